"""Composition: Hydra for platform.yaml + overlay + overrides, linear team loading, source map."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.compose import compose_config
from compiler.config_layout import CLI_FILE
from compiler.diagnostics import Span
from compiler.frontend import load_platform


def compose_ok(configs: Path, *overrides: str):
    composed, diags = compose_config(configs, list(overrides))
    assert composed is not None, [d.render() for d in diags]
    assert not [d for d in diags if d.is_error], [d.render() for d in diags]
    return composed


def rel(span: Span, configs: Path) -> tuple[str, int, int]:
    return (
        Path(span.file).resolve().relative_to(configs.resolve()).as_posix(),
        span.line,
        span.col,
    )


def test_source_map_points_at_the_layer_that_set_each_key(configs):
    composed = compose_ok(configs, "env=prod")
    src = composed.sources
    # set in platform.yaml only
    assert rel(src.locate(("platform", "region")), configs) == ("platform.yaml", 14, 11)
    # overridden by env/prod.yaml
    assert composed.root["node_pools"]["cpu-general"]["max_size"] == 20
    assert rel(src.locate(("node_pools", "cpu-general", "max_size")), configs)[0] == "env/prod.yaml"
    # untouched sibling still points at platform.yaml
    assert (
        rel(src.locate(("node_pools", "cpu-general", "instance_types")), configs)[0]
        == "platform.yaml"
    )
    # team keys point at the team file, overlay changes at the overlay
    assert rel(src.locate(("teams", "fraud", "cost_center")), configs) == (
        "teams/fraud.yaml",
        6,
        14,
    )
    assert (
        rel(src.locate(("teams", "fraud", "endpoints", "fraud-scorer", "min_replicas")), configs)[0]
        == "env/prod.yaml"
    )


def test_command_line_overrides_win_and_are_located(configs):
    composed = compose_ok(
        configs, "env=dev", "platform.region=us-east-1", "teams.fraud.quotas.gpus=4"
    )
    assert composed.environment == "dev"
    assert composed.root["platform"]["region"] == "us-east-1"
    assert composed.teams["fraud"]["quotas"]["gpus"] == 4
    assert composed.sources.locate(("platform", "region")) == Span(CLI_FILE, 1, 9)
    assert composed.sources.locate(("teams", "fraud", "quotas", "gpus")) == Span(CLI_FILE, 1, 35)


def test_add_and_delete_overrides_on_teams(configs):
    composed = compose_ok(configs, "+teams.fraud.description2=x", "~teams.fraud.description")
    assert "description" not in composed.teams["fraud"]
    assert composed.teams["fraud"]["description2"] == "x"
    _, diags = compose_config(configs, ["+teams.fraud.owners=[a@acme.example]"])
    assert [d.code for d in diags] == ["E011"] and "already set" in diags[0].message


def test_list_index_override(configs):
    composed = compose_ok(configs, "teams.fraud.bucket_access.0.access=read")
    assert composed.teams["fraud"]["bucket_access"][0]["access"] == "read"


def test_interpolation_in_platform_yaml_is_resolved_by_hydra(configs):
    path = configs / "platform.yaml"
    path.write_text(
        path.read_text().replace(
            "description: GPU inference", "description: GPU inference in ${platform.region}"
        )
    )
    composed = compose_ok(configs)
    assert composed.root["node_pools"]["gpu-t4"]["description"] == "GPU inference in eu-west-1"


def test_overlay_without_package_header_is_an_error(configs):
    path = configs / "env" / "dev.yaml"
    path.write_text(path.read_text().replace("# @package _global_\n", ""))
    _, diags = compose_config(configs, ["env=dev"])
    assert [d.code for d in diags] == ["E004"]
    assert diags[0].message == "env/dev.yaml must start with '# @package _global_'"


def test_team_file_and_folder_with_the_same_name(configs):
    (configs / "teams" / "recsys.yaml").write_text("owners: [a@acme.example]\n")
    _, diags = compose_config(configs, [])
    assert [d.code for d in diags] == ["E201"]


def test_empty_team_folder_and_hidden_files(configs):
    (configs / "teams" / "empty").mkdir()
    (configs / "teams" / ".draft.yaml").write_text("not: [valid")
    (configs / "teams" / "README.md").write_text("# teams\n")
    _, diags = compose_config(configs, [])
    assert [(d.code, d.message) for d in diags] == [
        ("E004", "team folder 'empty' has no YAML files")
    ]


def test_team_files_are_discovered_without_registration(configs):
    (configs / "teams" / "vision.yaml").write_text(
        "owners: [vi@acme.example]\ncost_center: CC-4000\nquotas: {cpu: '4', memory: 8Gi}\n"
    )
    result = load_platform(configs)
    assert result.ok and "vision" in result.ir.teams
    assert result.ir.teams["vision"].source_files == ("teams/vision.yaml",)


def test_all_problems_are_reported_at_once(configs):
    fraud = configs / "teams" / "fraud.yaml"
    fraud.write_text(fraud.read_text().replace("cost_center: CC-1042", "cost_centre: CC-1042"))
    search = configs / "teams" / "search.yaml"
    search.write_text(search.read_text().replace("runtime: sklearn", "runtime: sklern"))
    platform = configs / "platform.yaml"
    platform.write_text(platform.read_text().replace("[g4dn.xlarge]", "[g4dn.xlarg]"))
    result = load_platform(configs)
    codes = sorted(d.code for d in result.diagnostics if d.is_error)
    assert codes == ["E101", "E102", "E104", "E207"], [d.render() for d in result.diagnostics]
    assert result.ir is None


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_hydra_and_the_position_loader_agree_on_every_value(configs, env):
    """The source map is rebuilt from the same files Hydra merged: both must see the same tree."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    composed = compose_ok(configs, f"env={env}")
    with initialize_config_dir(config_dir=str(configs.resolve()), version_base="1.3"):
        expected = OmegaConf.to_container(
            compose("platform", overrides=[f"env={env}"]), resolve=True
        )
    expected.pop("teams", None)
    assert composed.root == expected
    for path in composed.sources.root.values:
        if path and path[0] != "teams":
            node = composed.root
            for part in path:
                node = node[part]
