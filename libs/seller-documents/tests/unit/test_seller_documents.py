import pytest
from oms_seller_documents import DocumentInvalid, DocumentProblems, json_pointer

pytestmark = pytest.mark.unit


def test_pointers_escape_and_every_problem_is_listed_first_named_first():
    assert json_pointer("rules", 0, "a/b~c") == "/rules/0/a~1b~0c"
    problems = DocumentProblems()
    problems.unknown_keys({"version": "1", "colour": "red"}, ("version",), ("policy",))
    problems.problem("/version", "too short")
    invalid = DocumentInvalid.listing(problems.errors)
    assert (invalid.pointer, invalid.errors[1]) == ("/policy/colour", ("/version", "too short"))
    assert str(invalid) == "/policy/colour: unknown key (expected one of version) (and 1 more problem)"
    assert str(DocumentInvalid("", "not an object")) == "not an object"
