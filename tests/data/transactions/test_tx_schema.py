"""EventSchema: YAML/dict forms, round trip, clear errors for bad configs."""

from pathlib import Path

import pytest

from latte_vt.data.transactions import EventSchema, SchemaError, load_schema

SCHEMAS = Path(__file__).resolve().parents[3] / "configs" / "transactions" / "schema"


@pytest.mark.parametrize("name", ["synthetic", "tabformer", "sparkov"])
def test_shipped_schemas_load_and_round_trip(name):
    schema = load_schema(SCHEMAS / f"{name}.yaml")
    assert EventSchema.from_dict(schema.to_dict()) == schema
    assert len(schema.source_columns) == len(set(schema.source_columns))


def test_forms_of_entity_and_time():
    schema = load_schema(
        {"entity": ["User", "Card"], "time": {"parts": {"year": "Y", "month": "M", "day": "D"}}, "amount": "A"}
    )
    assert schema.entity == ("User", "Card") and schema.time.columns == ["Y", "M", "D"]
    assert schema.on_error == "quarantine" and schema.out_of_order == "sort" and schema.label is None


def test_schema_file_with_a_schema_section(tmp_path):
    path = tmp_path / "data.yaml"
    path.write_text("schema:\n  entity: card\n  time: ts\n  amount: amt\n  on_error: fail\n")
    assert load_schema(path).on_error == "fail"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"time": "t", "amount": "a"}, "schema needs `entity`"),
        ({"entity": "e", "time": "t", "amount": "a", "colour": 1}, r"unknown schema keys \['colour'\]"),
        ({"entity": "e", "time": {"parts": {"year": "Y"}}, "amount": "a"}, r"missing \['day', 'month'\]"),
        ({"entity": "e", "time": {"column": "t", "parts": {}}, "amount": "a"}, "exactly one of"),
        ({"entity": "e", "time": "t", "amount": "a", "on_error": "ignore"}, "on_error must be fail or quarantine"),
        ({"entity": "e", "time": "t", "amount": "a", "categorical": ["x", "x"]}, r"listed twice.*\['x'\]"),
        ({"entity": "e", "time": "t", "amount": "a", "passthrough": ["label"]}, r"reserved"),
        ({"entity": "e", "time": {"column": "t", "unit": "days"}, "amount": "a"}, "time.unit must be"),
        ({"entity": "e", "time": {"col": "t"}, "amount": "a"}, r"unknown time keys \['col'\]"),
    ],
)
def test_bad_configs_say_what_is_wrong(config, message):
    with pytest.raises(SchemaError, match=message):
        load_schema(config)


def test_bad_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("entity: [a, b\n")
    with pytest.raises(SchemaError, match=r"broken\.yaml: not valid YAML"):
        load_schema(path)
