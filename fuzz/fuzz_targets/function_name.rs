//! Function names, ARNs and qualifiers as callers write them: never a panic, and whatever is
//! accepted is a name Lambda's rules allow.
#![no_main]

use nimbus_model::arn::{FunctionRef, NameShape, ResourceArn};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line is the name; a second line, if any, the `Qualifier` parameter.
    let (name, qualifier) = match text.split_once('\n') {
        Some((n, q)) => (n, Some(q)),
        None => (text, None),
    };
    for shape in [NameShape::Create, NameShape::Namespaced] {
        let Ok(r) = FunctionRef::parse(name, shape) else {
            continue;
        };
        assert!(!r.name.is_empty(), "{name:?} gave an empty name");
        assert!(
            r.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
            "{name:?} gave the name {:?}",
            r.name
        );
        assert!(name.contains(&r.name), "{name:?} gave {:?}", r.name);
        if let Some(q) = &r.qualifier {
            assert!(name.ends_with(q.as_str()), "{name:?} gave the qualifier {q:?}");
        }
        if let Ok(q) = r.with_qualifier(qualifier) {
            // A qualifier in both places must agree; either one alone is kept.
            if let (Some(given), Some(kept)) = (qualifier, &q.qualifier) {
                assert_eq!(given, kept.as_str(), "{name:?} with {qualifier:?}");
            }
        }
    }
    if let Ok(arn) = ResourceArn::parse(name) {
        assert!(name.starts_with("arn:"), "{name:?}");
        assert!(name.contains(&arn.function), "{name:?} gave {:?}", arn.function);
    }
});
