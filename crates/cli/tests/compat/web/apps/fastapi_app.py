# A FastAPI application behind Mangum, as users deploy one to a function URL.
from typing import Optional

from fastapi import Cookie, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from mangum import Mangum

app = FastAPI()


@app.get("/items/{item_id}")
def read_item(item_id: int, q: Optional[str] = None, session: Optional[str] = Cookie(default=None)):
    return {"item_id": item_id, "q": q, "session": session}


@app.post("/items")
async def create_item(request: Request):
    body = await request.json()
    resp = JSONResponse({"created": body}, status_code=201)
    resp.set_cookie("made", "yes")
    resp.set_cookie("flavour", "mint")
    return resp


@app.post("/reverse")
async def reverse(request: Request):
    data = await request.body()
    return Response(content=data[::-1], media_type="application/octet-stream")


@app.get("/teapot")
def teapot():
    return JSONResponse({"short": "stout"}, status_code=418)


handler = Mangum(app, lifespan="off")
