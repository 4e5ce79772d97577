//! Tests of label and field selector parsing, printing and matching.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn parses_and_prints_canonically() {
    let cases = [
        ("", ""),
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("  x in (b, a) ,y notin (c)", "x in (a,b),y notin (c)"),
        ("!z,a", "a,!z"),
        ("n>1,m<2", "m<2,n>1"),
        ("a=", "a="),
        ("a in ()", "a in ()"),
        ("example.com/app=x", "example.com/app=x"),
    ];
    for (input, want) in cases {
        let s = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(s.to_string(), want, "{input}");
    }
}

#[test]
fn parse_errors_match_upstream() {
    let err = LabelSelector::parse("app=-x").unwrap_err();
    assert_eq!(
        err.message(),
        "unable to parse requirement: values[0][app]: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', or 'my_value', or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    );
    let err = LabelSelector::parse("-x=a").unwrap_err();
    assert!(
        err.message().starts_with(
            "unable to parse requirement: <nil>: Invalid value: \"-x\": name part must consist"
        ),
        "{err}"
    );
    assert_eq!(
        LabelSelector::parse("a=b,").unwrap_err().message(),
        "found '', expected: identifier after ','"
    );
    assert_eq!(
        LabelSelector::parse("a b").unwrap_err().message(),
        "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
    );
    assert_eq!(
        LabelSelector::parse("a in b").unwrap_err().message(),
        "unable to parse requirement: found 'b' expected: '('"
    );
    assert_eq!(
        LabelSelector::parse("a>b").unwrap_err().message(),
        "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
    assert_eq!(
        LabelSelector::parse("=a").unwrap_err().message(),
        "found '=', expected: !, identifier, or 'end of string'"
    );
}

#[test]
fn matching() {
    let l = labels(&[("app", "web"), ("tier", "front"), ("n", "5")]);
    let yes = [
        "app=web",
        "app in (web,db)",
        "app notin (db)",
        "app",
        "!missing",
        "n>4",
        "n<6",
        "missing!=x",
        "tier==front",
    ];
    let no = [
        "app=db",
        "app in (db)",
        "app notin (web)",
        "missing",
        "!app",
        "n>5",
        "tier<1",
        "missing=x",
        "missing in (x)",
    ];
    for s in yes {
        assert!(LabelSelector::parse(s).unwrap().matches(&l), "{s}");
    }
    for s in no {
        assert!(!LabelSelector::parse(s).unwrap().matches(&l), "{s}");
    }
    assert!(LabelSelector::parse("").unwrap().is_empty());
    assert!(!LabelSelector::nothing().matches(&l));
}

#[test]
fn from_label_selector_and_map() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    let sel = meta::LabelSelector {
        match_labels: Some([("app".to_string(), "web".to_string())].into()),
        match_expressions: Some(vec![meta::LabelSelectorRequirement {
            key: "env".into(),
            operator: "In".into(),
            values: Some(vec!["prod".into(), "dev".into()]),
        }]),
    };
    let s = LabelSelector::from_label_selector(&sel).unwrap();
    assert_eq!(s.to_string(), "app=web,env in (dev,prod)");
    let bad = meta::LabelSelector {
        match_labels: None,
        match_expressions: Some(vec![meta::LabelSelectorRequirement {
            key: "env".into(),
            operator: "Foo".into(),
            values: None,
        }]),
    };
    assert_eq!(
        LabelSelector::from_label_selector(&bad)
            .unwrap_err()
            .message(),
        "\"Foo\" is not a valid label selector operator"
    );
    let empty_in = meta::LabelSelector {
        match_labels: None,
        match_expressions: Some(vec![meta::LabelSelectorRequirement {
            key: "env".into(),
            operator: "In".into(),
            values: Some(vec![]),
        }]),
    };
    assert_eq!(
        LabelSelector::from_label_selector(&empty_in)
            .unwrap_err()
            .message(),
        "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
    );
    let m = labels(&[("b", "2"), ("a", "1")]);
    assert_eq!(LabelSelector::from_map(&m).to_string(), "a=1,b=2");
}

#[test]
fn field_selectors() {
    let s = FieldSelector::parse("status.phase!=Running,metadata.name==a\\,b").unwrap();
    assert_eq!(s.to_string(), "metadata.name=a\\,b,status.phase!=Running");
    let fields: Vec<&str> = s.requirements().iter().map(|r| r.field.as_str()).collect();
    assert_eq!(fields, ["metadata.name", "status.phase"]);
    assert!(s.matches(|f| match f {
        "metadata.name" => Some("a,b".into()),
        _ => None,
    }));
    assert!(!s.matches(|f| match f {
        "metadata.name" => Some("a,b".into()),
        _ => Some("Running".into()),
    }));
    assert_eq!(s.required_value("metadata.name"), Some("a,b"));
    assert_eq!(
        FieldSelector::parse("abc").unwrap_err().message(),
        "invalid selector: 'abc'; can't understand 'abc'"
    );
    assert_eq!(
        FieldSelector::parse("a=b=c").unwrap_err().message(),
        "invalid field selector: unescaped character in value: 61"
    );
    assert_eq!(
        FieldSelector::parse("a=\\x").unwrap_err().message(),
        "invalid field selector: invalid escape sequence: \\x"
    );
    assert!(FieldSelector::parse("").unwrap().is_empty());
}

fn requirement() -> impl Strategy<Value = Requirement> {
    let key = "[a-c]{1,2}(/[a-c]{1,2})?".prop_map(|k| k.replace('/', "x."));
    let value = "[a-c0-9]{0,3}";
    let op = prop_oneof![
        Just(Operator::Equals),
        Just(Operator::DoubleEquals),
        Just(Operator::NotEquals),
        Just(Operator::In),
        Just(Operator::NotIn),
        Just(Operator::Exists),
        Just(Operator::DoesNotExist),
        Just(Operator::GreaterThan),
        Just(Operator::LessThan),
    ];
    (key, op, prop::collection::btree_set(value, 1..3), 0i64..9).prop_map(|(k, op, vals, n)| {
        let values: Vec<String> = match op {
            Operator::Exists | Operator::DoesNotExist => vec![],
            Operator::GreaterThan | Operator::LessThan => vec![n.to_string()],
            Operator::In | Operator::NotIn => vals.into_iter().collect(),
            _ => vals.into_iter().take(1).collect(),
        };
        Requirement::new(&k, op, values).unwrap()
    })
}

/// A direct reading of the operator semantics, independent of `Requirement::matches`.
fn naive(r: &Requirement, l: &BTreeMap<String, String>) -> bool {
    let v = l.get(r.key());
    let vals = r.values();
    match r.operator() {
        Operator::Equals | Operator::DoubleEquals | Operator::In => {
            v.is_some_and(|v| vals.contains(v))
        }
        Operator::NotEquals | Operator::NotIn => v.is_none_or(|v| !vals.contains(v)),
        Operator::Exists => v.is_some(),
        Operator::DoesNotExist => v.is_none(),
        Operator::GreaterThan => v
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|n| n > vals[0].parse::<i64>().unwrap()),
        Operator::LessThan => v
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|n| n < vals[0].parse::<i64>().unwrap()),
    }
}

proptest! {
    #[test]
    fn label_round_trip(reqs in prop::collection::vec(requirement(), 0..4)) {
        let s = LabelSelector::from_requirements(reqs);
        let parsed = LabelSelector::parse(&s.to_string()).unwrap();
        prop_assert_eq!(parsed.to_string(), s.to_string());
        prop_assert_eq!(parsed, s);
    }

    #[test]
    fn label_matching_agrees_with_naive(
        reqs in prop::collection::vec(requirement(), 0..4),
        l in prop::collection::btree_map("[a-c]{1,2}", "[a-c0-9]{0,2}", 0..5),
    ) {
        let s = LabelSelector::from_requirements(reqs.clone());
        prop_assert_eq!(s.matches(&l), reqs.iter().all(|r| naive(r, &l)));
    }

    #[test]
    fn field_round_trip(terms in prop::collection::vec(("[a-c]{1,3}(\\.[a-c]{1,3})?", any::<bool>(), "[a-c,=\\\\ ]{0,4}"), 0..4)) {
        let mut reqs: Vec<FieldRequirement> = terms.into_iter().map(|(f, eq, v)| FieldRequirement {
            field: f,
            operator: if eq { FieldOperator::Equals } else { FieldOperator::NotEquals },
            value: v,
        }).collect();
        reqs.sort_by_key(|r| r.to_string());
        let s = FieldSelector::from_requirements(reqs);
        let parsed = FieldSelector::parse(&s.to_string()).unwrap();
        prop_assert_eq!(parsed, s);
    }
}
