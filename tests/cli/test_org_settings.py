"""``org set --allow-restricted-ops``: the org's restricted query operators, shown by ``org show``."""

from __future__ import annotations

from opencortex.model.orgs import allowed_restricted_operators, find_org


def allowed_in_database(runtime, code: str) -> frozenset[str]:
    with runtime.database.connect() as connection:
        org = find_org(connection, code)
    assert org is not None
    return allowed_restricted_operators(org["settings"])


def setting(shown: dict) -> list[str]:
    return list(shown["configuration"]["queries"]["allowedRestrictedMatchOps"])


def test_set_and_show_the_restricted_operators(run, run_json, runtime):
    run("org", "create", "trial", "--name", "Trial")
    assert setting(run_json("org", "show", "trial")) == []
    assert "restricted query operators allowed: none ($ne, $nin, $type refused)" in run("org", "show", "trial").stdout

    shown = run_json("org", "set", "trial", "--allow-restricted-ops", "$nin, $ne")
    assert setting(shown) == ["$ne", "$nin"] and shown["code"] == "trial"
    assert shown == run_json("org", "show", "trial")
    assert allowed_in_database(runtime, "trial") == {"$ne", "$nin"}
    assert "restricted query operators allowed: $ne, $nin" in run("org", "show", "trial").stdout

    assert setting(run_json("org", "set", "trial", "--allow-restricted-ops", "*")) == ["*"]
    assert "restricted query operators allowed: all (*)" in run("org", "show", "trial").stdout
    assert allowed_in_database(runtime, "trial") == {"*"}

    assert setting(run_json("org", "set", "trial", "--allow-restricted-ops", "")) == []
    assert allowed_in_database(runtime, "trial") == frozenset()


def test_bad_values_and_missing_options_are_refused(run, run_json, runtime):
    run("org", "create", "trial", "--name", "Trial")
    run_json("org", "set", "trial", "--allow-restricted-ops", "$type")
    bad = run("org", "set", "trial", "--allow-restricted-ops", "$ne,$regex,$eq", ok=False)
    assert bad.exit_code == 1
    assert bad.stderr == ("Error: $eq, $regex: the restricted operators are $ne, $nin, $type (or * for all). "
                          "(allowedRestrictedMatchOps)\n")
    assert allowed_in_database(runtime, "trial") == {"$type"}  # unchanged
    nothing = run("org", "set", "trial", ok=False)
    assert nothing.exit_code == 2 and "Nothing to set" in nothing.stderr
    missing = run("org", "set", "nope", "--allow-restricted-ops", "*", ok=False)
    assert missing.exit_code == 1 and missing.stderr == "Error: No org with code 'nope'. (code)\n"
