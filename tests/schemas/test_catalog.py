"""The instance catalog covers the GPU families the issue names, with consistent data."""

from __future__ import annotations

from schemas.catalog import GPU_MODELS, INSTANCE_TYPES


def test_required_families_are_present():
    families = {t.family for t in INSTANCE_TYPES.values()}
    assert {"g4dn", "g5", "g6", "p3", "p4d", "p5"} <= families
    assert any(t.gpu_count == 0 for t in INSTANCE_TYPES.values())


def test_gpu_data_is_consistent():
    for t in INSTANCE_TYPES.values():
        assert (t.gpu_model is None) == (t.gpu_count == 0), t.name
        assert t.gpu_model is None or t.gpu_model in GPU_MODELS, t.name
        assert t.vcpu > 0 and t.memory_gib > 0 and t.hourly_usd > 0, t.name
    assert INSTANCE_TYPES["p4d.24xlarge"].gpu_count == 8
    assert INSTANCE_TYPES["p5.48xlarge"].gpu_model == "nvidia-h100"
    assert INSTANCE_TYPES["g5.12xlarge"].gpu_count == 4


def test_bigger_sizes_cost_more_within_a_family():
    by_family: dict[str, list] = {}
    for t in INSTANCE_TYPES.values():
        by_family.setdefault(t.family, []).append(t)
    for family, types in by_family.items():
        ordered = sorted(types, key=lambda t: (t.vcpu, t.gpu_count))
        prices = [t.hourly_usd for t in ordered if t.gpu_count == ordered[0].gpu_count]
        assert prices == sorted(prices), family
