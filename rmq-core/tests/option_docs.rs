//! The option lists of the C header, the Python stubs and the TypeScript typings are generated
//! from the core's one table, `rmq_core::producer::OPTIONS`: this test renders each list and
//! compares it with the committed file. `RMQ_BLESS=1 cargo test -p rmq-core --test option_docs`
//! writes them instead (then rebuild the header: `make ffi-header`). The C list is wrapped at
//! 100 columns; the stubs and typings keep one line per option.

use std::path::{Path, PathBuf};

use rmq_core::producer::{OPTIONS, OptionDefault, OptionDoc, OptionValue, js_option_name};

const BEGIN: &str =
    "options: generated from rmq_core::producer::OPTIONS (rmq-core/tests/option_docs.rs)";
const END: &str = "end of generated options";
const WIDTH: usize = 100;

#[derive(Clone, Copy, PartialEq)]
enum Language {
    C,
    Python,
    Node,
}

/// What one language adds to an option's meaning: the forms it names, the thread that waits.
fn note(language: Language, key: &str) -> &'static str {
    match (language, key) {
        (Language::C, "backpressure") => {
            "; `block` makes the calling thread wait (inside a thread-mode callback, the send waits \
             after being accepted)"
        }
        (Language::Python, "retry_times") => {
            ": the blocking forms, `send`, `send_batch`, `send_to_queue` and the selector forms"
        }
        (Language::Python, "retry_times_async") => {
            ": `send_async`, `send_callback`, `send_batch_async`, `request` and the other async forms"
        }
        (Language::Python, "backpressure") => {
            "; awaitables wait inside the library, never blocking the event loop"
        }
        (Language::Node, "retry_times") => ": `send` and `sendBatch`, the core's sync sends",
        (Language::Node, "retry_times_async") => {
            ": `sendCallback`, `sendBatchCallback`, `request` and `requestCallback`"
        }
        (Language::Node, "backpressure") => "; the JS thread never blocks",
        _ => "",
    }
}

fn sentence(language: Language, option: &OptionDoc) -> String {
    let mut meaning = option.meaning.to_string();
    if language != Language::C {
        meaning[..1].make_ascii_uppercase();
    }
    if language == Language::Node {
        for other in OPTIONS {
            let key = format!("`{}`", other.key);
            meaning = meaning.replace(&key, &format!("`{}`", js_option_name(other.key)));
        }
    }
    let default = match option.default {
        OptionDefault::Unset("required") => "required".to_string(),
        other => format!("default: {other}"),
    };
    format!("{meaning}{} ({default})", note(language, option.key))
}

/// Greedy word wrap: the first line starts with `first`, the others with `rest`.
fn wrap(text: &str, first: &str, rest: &str) -> Vec<String> {
    let mut lines = vec![first.to_string()];
    for word in text.split(' ') {
        let fresh = lines.len() == 1 && lines[0].len() == first.len();
        let line = lines.last_mut().unwrap();
        if !fresh && line.len() + 1 + word.len() > WIDTH {
            lines.push(format!("{rest}{word}"));
        } else {
            if !fresh {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

fn c_list() -> Vec<String> {
    OPTIONS
        .iter()
        .flat_map(|option| {
            let text = format!("`{}`: {}", option.key, sentence(Language::C, option));
            wrap(&text, "/// - ", "///   ")
        })
        .collect()
}

/// The type of an option's value in Python or TypeScript.
fn type_name(language: Language, value: OptionValue) -> String {
    let python = language == Language::Python;
    match value {
        OptionValue::Integer => if python { "int" } else { "number" }.to_string(),
        OptionValue::Boolean => if python { "bool" } else { "boolean" }.to_string(),
        OptionValue::Text => if python { "str" } else { "string" }.to_string(),
        OptionValue::OneOf(choices) if python => {
            let quoted: Vec<String> = choices.iter().map(|c| format!("{c:?}")).collect();
            format!("Literal[{}]", quoted.join(", "))
        }
        OptionValue::OneOf(choices) => {
            let quoted: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
            quoted.join(" | ")
        }
    }
}

fn python_fields() -> Vec<String> {
    // `group` is the constructor's first parameter, not a keyword option.
    OPTIONS
        .iter()
        .filter(|option| option.key != "group")
        .flat_map(|option| {
            let kind = type_name(Language::Python, option.value);
            let doc = sentence(Language::Python, option);
            [
                format!("    {}: {kind}", option.key),
                format!("    \"\"\"{doc}.\"\"\""),
            ]
        })
        .collect()
}

fn node_fields() -> Vec<String> {
    OPTIONS
        .iter()
        .flat_map(|option| {
            let kind = type_name(Language::Node, option.value);
            let required = option.default == OptionDefault::Unset("required");
            let doc = sentence(Language::Node, option);
            let optional = if required { "" } else { "?" };
            [
                format!("  /** {doc}. */"),
                format!("  {}{optional}: {kind}", js_option_name(option.key)),
            ]
        })
        .collect()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The file with the lines between its BEGIN and END marker lines replaced by `generated`.
fn regenerate(path: &Path, generated: &[String]) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    let at = |marker: &str| {
        let found: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].trim_start().trim_start_matches(['/', '#', ' ']) == marker)
            .collect();
        assert_eq!(found.len(), 1, "{}: one line '{marker}'", path.display());
        found[0]
    };
    let (begin, end) = (at(BEGIN), at(END));
    let mut out: Vec<String> = lines[..=begin].iter().map(|l| l.to_string()).collect();
    out.extend(generated.iter().cloned());
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    out.join("\n") + "\n"
}

fn check(relative: &str, generated: &[String]) {
    let path = repo().join(relative);
    let expected = regenerate(&path, generated);
    if std::env::var_os("RMQ_BLESS").is_some() {
        std::fs::write(&path, expected).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap();
    if actual != expected {
        let first = actual
            .lines()
            .zip(expected.lines())
            .find(|(a, e)| a != e)
            .map(|(a, e)| format!("\n  committed: {a}\n  generated: {e}"))
            .unwrap_or_default();
        panic!(
            "{relative}: its option list differs from rmq_core::producer::OPTIONS{first}\n\
             run `RMQ_BLESS=1 cargo test -p rmq-core --test option_docs`, then `make ffi-header`"
        );
    }
}

#[test]
fn the_c_header_lists_every_option() {
    check("rmq-ffi/src/config.rs", &c_list());
    // cbindgen copies that list into the header; `make ffi-header-check` keeps the two equal.
}

#[test]
fn the_python_stubs_list_every_option() {
    check(
        "bindings/python/python/rmqproducer/_rmqproducer.pyi",
        &python_fields(),
    );
}

#[test]
fn the_typescript_typings_list_every_option() {
    // index.d.ts begins with dts-header.d.ts (napi copies it there at every build).
    check("bindings/node/dts-header.d.ts", &node_fields());
    check("bindings/node/index.d.ts", &node_fields());
}

#[test]
fn words_wrap_within_the_width() {
    let long = "word ".repeat(60);
    let lines = wrap(long.trim(), "/// - ", "///   ");
    assert!(lines.len() > 2 && lines.iter().all(|l| l.len() <= WIDTH));
    assert!(lines[1].starts_with("///   word"));
}
