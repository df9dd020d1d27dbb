//! The located tree and its decoder, on small documents.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Item {
    name: Spanned<String>,
    #[serde(default)]
    size: Option<u32>,
    #[serde(default)]
    rest: Option<Node>,
}

fn parse(text: &str) -> Node {
    parse_yaml(text).expect("valid yaml")
}

#[test]
fn locations_are_one_based_line_and_column() {
    let n = parse("a:\n  - x: 1\n    y: hello\n");
    let item = &n.get("a").expect("a");
    let NodeValue::Seq(items) = &item.value else { panic!("seq") };
    assert_eq!(items[0].get("y").map(|y| y.loc), Some(Loc { line: 3, col: 8 }));
}

#[test]
fn unknown_field_points_at_the_key_with_its_path() {
    let n = parse("name: a\nsize: 3\nsise: 4\n");
    let err = decode::<Item>(&n, "rules[0]").expect_err("unknown field");
    assert_eq!(err.loc, Some(Loc { line: 3, col: 1 }));
    assert_eq!(err.path, "rules[0].sise");
    assert!(err.message.contains("expected one of: name, size, rest"), "{}", err.message);
}

#[test]
fn type_error_points_at_the_value() {
    let n = parse("name: a\nsize: [1]\n");
    let err = decode::<Item>(&n, "x").expect_err("bad type");
    assert_eq!(err.loc, Some(Loc { line: 2, col: 7 }));
    assert_eq!(err.path, "x.size");
    assert!(err.message.contains("found a list"), "{}", err.message);
}

#[test]
fn spanned_and_nested_nodes_keep_locations() {
    let n = parse("name: 2024\nrest:\n  k: [1, 2]\n");
    let item = decode::<Item>(&n, "").expect("decodes");
    assert_eq!(item.name.value, "2024");
    assert_eq!(item.name.loc, Loc { line: 1, col: 7 });
    let rest = item.rest.expect("rest");
    assert_eq!(rest.get("k").map(|k| k.loc), Some(Loc { line: 3, col: 6 }));
}

#[test]
fn missing_field_points_at_the_mapping() {
    let n = parse("size: 3\n");
    let err = decode::<Item>(&n, "items[1]").expect_err("missing");
    assert_eq!(err.loc, Some(Loc { line: 1, col: 1 }));
    assert!(err.message.contains("missing field `name`"));
}

#[test]
fn syntax_and_duplicate_key_errors_have_a_location() {
    let err = parse_yaml("a: 1\na: 2\n").expect_err("duplicate");
    assert_eq!(err.loc.line, 2, "{err:?}");
    let err = parse_yaml("a: [1, 2\nb: 3\n").expect_err("syntax");
    assert!(err.loc.line >= 1 && !err.message.is_empty(), "{err:?}");
}

#[test]
fn large_files_fit_the_parser_budget() {
    // 300 000 nodes: past serde-saphyr's default budget of 250 000, as a 12 000-rule file is.
    let text = format!("[{}1]", "1, ".repeat(299_999));
    let node = parse_yaml(&text).expect("a large plain file parses");
    assert!(matches!(node.value, NodeValue::Seq(ref items) if items.len() == 300_000));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Outer {
    items: Vec<Item>,
}

#[test]
fn decode_all_reports_every_unknown_key_and_decodes_the_rest() {
    let n = parse("name: a\nsise: 4\nsize: 3\nextra: x\n");
    let (item, errors) = decode_all::<Item>(&n, "rules[0]");
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["rules[0].sise", "rules[0].extra"]);
    assert_eq!(item.and_then(|i| i.size), Some(3));

    let n = parse("items:\n  - {name: a}\n  - {name: b, bad: 1}\n");
    let (outer, errors) = decode_all::<Outer>(&n, "");
    assert_eq!(errors.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["items[1].bad"]);
    assert_eq!(outer.map(|o| o.items.len()), Some(2));

    let n = parse("bad: 1\nname: [1]\n");
    let (item, errors) = decode_all::<Item>(&n, "x");
    assert!(item.is_none(), "a type error still fails the node");
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn tab_indentation_is_named_at_the_tab() {
    let check = |text: &str, at: (u32, u32)| {
        let err = parse_yaml(text).expect_err("tabs");
        assert_eq!(err.message, "tabs are not allowed for indentation; use spaces", "{text:?}");
        assert_eq!((err.loc.line, err.loc.col), at, "{text:?}");
    };
    check("sources:\n\ts: {verify: {scheme: none}}\n", (2, 1));
    check("sources:\n  s:\n    verify:\n\t  scheme: none\n", (4, 1));
    check("rules:\n  - name: a\n  \t  source: x\n", (3, 3));
    let literal = parse_yaml("text: |\n  a\tb\nother: 1\n").expect("a tab inside a value is fine");
    assert_eq!(literal.get("text").and_then(Node::as_str), Some("a\tb\n"));
}
