// An Express application behind serverless-http, as users deploy one to a function URL.
const express = require("express");
const serverless = require("serverless-http");

const app = express();
app.use(express.json());
app.use(express.raw({ type: "application/octet-stream", limit: "5mb" }));

function cookies(header) {
  const out = {};
  for (const part of (header || "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k) out[k] = v.join("=");
  }
  return out;
}

app.get("/items/:id", (req, res) => {
  res.json({ item_id: Number(req.params.id), q: req.query.q ?? null, session: cookies(req.headers.cookie).session ?? null });
});

app.post("/items", (req, res) => {
  res.cookie("made", "yes");
  res.cookie("flavour", "mint");
  res.status(201).json({ created: req.body });
});

app.post("/reverse", (req, res) => {
  res.type("application/octet-stream").send(Buffer.from(req.body).reverse());
});

app.get("/teapot", (req, res) => res.status(418).json({ short: "stout" }));

module.exports.handler = serverless(app, { binary: ["application/octet-stream"] });
