import pytest
import torch

from components.adapters.fact import FactAdapter
from components.adapters.feedface import FeedFaceControl
from components.adapters.weights import build_modules, load_state
from tests.adapters.conftest import hook_count, unet_inputs


def _run(unet, inputs):
    sample, timesteps, text = inputs
    with torch.no_grad():
        return unet(sample, timesteps, encoder_hidden_states=text).sample


@pytest.fixture
def base(tiny_pipeline):
    unet = tiny_pipeline.unet
    inputs = unet_inputs()
    state = {k: v.clone() for k, v in unet.state_dict().items()}
    hooks = hook_count(unet)
    out = _run(unet, inputs)
    yield unet, inputs, out
    assert hook_count(unet) == hooks, "an adapter was left attached"
    after = unet.state_dict()
    assert after.keys() == state.keys() and all(torch.equal(after[k], v) for k, v in state.items())


def test_fresh_fact_is_exactly_the_base_unet_at_any_scale(base):
    unet, inputs, out = base
    adapter = FactAdapter(unet, cross_dim=32, face_dim=32)
    adapter.set_face_tokens(torch.randn(2, 4, 32))
    with adapter:
        for scale in (0.0, 0.5, 1.0):
            adapter.set_scale(scale)
            assert torch.equal(_run(unet, inputs), out), scale
    assert torch.equal(_run(unet, inputs), out)  # detached


def test_fresh_feedface_is_exactly_the_base_unet(base):
    unet, inputs, out = base
    control = FeedFaceControl(unet, face_dim=32).attach()
    control.set_face_tokens(torch.randn(1, 4, 32))  # batch 1 is broadcast
    try:
        for scale in (0.5, 1.0):
            control.set_scale(scale)
            assert torch.equal(_run(unet, inputs), out)
    finally:
        control.detach()
    assert torch.equal(_run(unet, inputs), out)


@pytest.mark.parametrize("kind", ["fact", "feedface"])
def test_trained_adapter_changes_the_unet_only_at_nonzero_scale(base, trained, kind):
    unet, inputs, out = base
    weights = trained(kind)[0]
    zero_init = [v for k, v in weights.state_dict.items() if k.endswith(("to_out.0.weight", "zero.weight"))]
    assert zero_init and all(v.abs().max() > 0 for v in zero_init)  # training moved the zero-initialised outputs
    projection, adapter = build_modules(unet, weights.config)
    load_state(projection, adapter, weights.state_dict)
    with torch.no_grad():
        adapter.set_face_tokens(projection(torch.randn(2, 1, 128)))
    with adapter:
        adapter.set_scale(1.0)
        assert not torch.allclose(_run(unet, inputs), out, atol=1e-6)
        adapter.set_scale(0.0)
        assert torch.equal(_run(unet, inputs), out)
        adapter.set_scale(1.0)
        adapter.set_face_tokens(None)  # no face tokens: adapter off
        assert torch.equal(_run(unet, inputs), out)
    assert torch.equal(_run(unet, inputs), out)


def test_fact_records_one_increment_per_block_with_its_size(base):
    unet, inputs, out = base
    adapter = FactAdapter(unet, cross_dim=32, face_dim=32)
    for p in adapter.parameters():
        torch.nn.init.normal_(p, std=0.05, generator=torch.Generator().manual_seed(0))
    adapter.set_face_tokens(torch.randn(2, 4, 32))
    adapter.record_increments = True
    with adapter:
        adapter.set_scale(0.5)
        changed = _run(unet, inputs)
        assert len(adapter.increments) == len(adapter.blocks) == 6
        for inc in adapter.increments:
            h, w = inc.size
            assert inc.delta.shape == (2, h * w, 64) and inc.delta.abs().max() > 0
        _run(unet, inputs)
        assert len(adapter.increments) == 6  # cleared at every UNet forward
        adapter.set_scale(0.0)
        assert torch.equal(_run(unet, inputs), out)
        assert all(torch.all(inc.delta == 0) for inc in adapter.increments)
    assert not torch.allclose(changed, out)


def test_fact_is_sequential_after_text_cross_attention(tiny_pipeline):
    """h'' = h' + s*FaceAttn(LN(h')), h' = h + attn2(norm2(h)): check one block against the formula."""
    unet = tiny_pipeline.unet
    adapter = FactAdapter(unet, cross_dim=32, face_dim=32)
    name, block, _ = adapter.blocks[0]
    layer = adapter.layers[name.replace(".", "_")]
    torch.nn.init.normal_(layer.attn.to_out[0].weight, std=0.1, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    hidden, text, face = torch.randn(2, 16, 64, generator=g), torch.randn(2, 77, 32, generator=g), torch.randn(2, 4, 32, generator=g)
    with torch.no_grad():
        h = hidden + block.attn1(block.norm1(hidden))
        h1 = h + block.attn2(block.norm2(h), encoder_hidden_states=text)
        h2 = h1 + 0.7 * layer.attn(layer.norm(h1), encoder_hidden_states=face)
        expected = h2 + block.ff(block.norm3(h2))
        adapter.set_face_tokens(face)
        adapter.set_scale(0.7)
        with adapter:
            got = block(hidden, encoder_hidden_states=text)
    assert torch.allclose(got, expected, atol=1e-5)


def test_adapter_api_errors(tiny_pipeline):
    unet = tiny_pipeline.unet
    adapter = FactAdapter(unet, cross_dim=32, face_dim=32)
    with pytest.raises(ValueError, match="face tokens"):
        adapter.set_face_tokens(torch.randn(2, 4, 16))
    with adapter:
        with pytest.raises(ValueError, match="already attached"):
            adapter.attach()
        with pytest.raises(ValueError, match="already carries"):
            FeedFaceControl(unet, face_dim=32).attach()
        adapter.set_face_tokens(torch.randn(3, 4, 32))
        with pytest.raises(ValueError, match="batch"):
            _run(unet, unet_inputs())
    with pytest.raises(ValueError, match="finite"):
        adapter.set_scale(float("nan"))
    with pytest.raises(ValueError, match="does not match"):
        adapter.load_state_dict({"nope": torch.zeros(1)})


def test_state_dict_round_trip_through_safetensors(tiny_pipeline):
    from safetensors.torch import load, save

    unet = tiny_pipeline.unet
    for make in (lambda s: FactAdapter(unet, 32, 32, seed=s), lambda s: FeedFaceControl(unet, 32, seed=s)):
        a, b = make(1), make(2)
        state = a.state_dict()
        assert all(isinstance(k, str) and v.device.type == "cpu" for k, v in state.items())
        assert any(not torch.equal(state[k], v) for k, v in b.state_dict().items())
        b.load_state_dict(load(save(state)))
        assert all(torch.equal(state[k], v) for k, v in b.state_dict().items())
        assert {n for n, _ in a.named_parameters()} == set(state)  # only adapter tensors
