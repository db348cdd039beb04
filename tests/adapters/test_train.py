import numpy as np
import pytest
import torch
from safetensors.torch import load

from components.adapters.train import AdapterTrainer, condition_index
from components.adapters.types import AdapterExample
from components.adapters.weights import weights_from_bytes, weights_to_bytes
from tests.adapters.conftest import TRAIN_OPTIONS, TRAIN_STEPS, hook_count
from tests.checkpoints import MemoryCheckpoints

KINDS = ["fact", "feedface"]


def test_conditioning_photo_is_another_photo_of_the_same_identity():
    identities = ["a", "b", "a", "c", "b", "a"]
    seen = {i: set() for i in range(len(identities))}
    for step in range(200):
        rng = np.random.default_rng([5, step])
        for target in range(len(identities)):
            cond = condition_index(identities, target, rng)
            assert identities[cond] == identities[target]
            if target == 3:
                assert cond == 3  # "c" has one photo: it conditions itself
            else:
                assert cond != target
            seen[target].add(cond)
    assert seen[0] == {2, 5} and seen[2] == {0, 5} and seen[1] == {4}  # every other photo gets drawn
    rng1, rng2 = np.random.default_rng([1, 2]), np.random.default_rng([1, 2])
    assert [condition_index(identities, 0, rng1) for _ in range(10)] == [condition_index(identities, 0, rng2) for _ in range(10)]


@pytest.mark.parametrize(
    "options",
    [dict(kind="lora"), dict(steps=0), dict(resolution=30), dict(lr=0), dict(cond_drop=1.0), dict(plain_fraction=2), dict(tokens=0)],
)
def test_rejects_bad_settings(tiny_pipeline, options):
    kind = options.pop("kind", "fact")
    with pytest.raises(ValueError):
        AdapterTrainer(tiny_pipeline, kind, **({"steps": 2} | options))


def test_rejects_bad_examples(tiny_pipeline, examples):
    trainer = AdapterTrainer(tiny_pipeline, "fact", steps=1, resolution=32)
    with pytest.raises(ValueError, match="no training examples"):
        trainer.train([])
    e = examples[0]
    for bad in (
        AdapterExample(e.image, e.mask[:10], e.embedding, e.identity),
        AdapterExample(e.image, e.mask, e.embedding[:64], e.identity),
        AdapterExample(e.image.astype(np.float32), e.mask, e.embedding, e.identity),
        AdapterExample(e.image, e.mask, e.embedding, ""),
    ):
        with pytest.raises(ValueError, match="example 0"):
            trainer.train([bad])


@pytest.mark.parametrize("kind", KINDS)
def test_training_lowers_the_loss_and_leaves_the_pipeline_clean(tiny_pipeline, examples, trained, kind):
    hooks = hook_count(tiny_pipeline.unet)
    weights, store, calls = trained(kind)
    assert weights.kind == kind and weights.config["kind"] == kind
    assert len(weights.losses) == TRAIN_STEPS and all(np.isfinite(weights.losses))
    assert [c[0] for c in calls] == list(range(1, TRAIN_STEPS + 1)) and calls[-1][2] == weights.losses[-1]
    losses = np.array(weights.losses)
    assert losses[-5:].mean() < losses[:5].mean()  # fixed seed: the logged loss falls
    # Paired check on the very same draws (timesteps, noise, photos): trained vs initial adapter.
    trainer = AdapterTrainer(tiny_pipeline, kind, **TRAIN_OPTIONS)
    before = np.array(trainer.evaluate(examples, None))
    after = np.array(trainer.evaluate(examples, weights))
    assert after.mean() < before.mean() and (after < before).mean() > 0.5
    # Only adapter + projection tensors; the pipeline is as it was.
    assert weights.state_dict and all(k.startswith(("adapter.", "projection.")) for k in weights.state_dict)
    assert hook_count(tiny_pipeline.unet) == hooks
    for model in (tiny_pipeline.unet, tiny_pipeline.vae, tiny_pipeline.text_encoder):
        assert not model.training
    assert not any(p.requires_grad for p in tiny_pipeline.unet.parameters())  # the flags it was built with (frozen)


@pytest.mark.parametrize("kind", KINDS)
def test_resume_from_checkpoint_reproduces_the_uninterrupted_run(tiny_pipeline, examples, kind):
    # Plain steps and condition drops both happen in these 6 steps (plain_fraction/cond_drop 0.5).
    options = dict(steps=6, lr=3e-3, resolution=32, seed=11, checkpoint_every=2, plain_fraction=0.5, cond_drop=0.5)
    store = MemoryCheckpoints()
    full = AdapterTrainer(tiny_pipeline, kind, **options).train(examples, store)
    assert sorted(store.saved) == [2, 4, 6]
    payload = store.saved[4]
    assert not payload.startswith(b"\x80")  # safetensors, not a pickle
    assert any(k.startswith("param/") for k in load(payload)) and any(k.startswith("optimizer/") for k in load(payload))

    resumed_store, calls = MemoryCheckpoints(initial=(4, payload)), []
    resumed = AdapterTrainer(tiny_pipeline, kind, **options).train(
        examples, resumed_store, lambda step, total, loss: calls.append(step)
    )
    assert calls == [5, 6] and sorted(resumed_store.saved) == [6]
    assert resumed.losses == full.losses
    assert resumed.state_dict.keys() == full.state_dict.keys()
    for key, tensor in full.state_dict.items():
        assert torch.allclose(resumed.state_dict[key], tensor, atol=1e-6, rtol=0), key

    with pytest.raises(ValueError, match="settings"):
        AdapterTrainer(tiny_pipeline, kind, **(options | {"seed": 12})).train(examples, MemoryCheckpoints((4, payload)))


def test_weights_save_as_safetensors_bytes_and_load_back(trained):
    weights = trained("fact")[0]
    payload = weights_to_bytes(weights)
    assert isinstance(payload, bytes) and not payload.startswith(b"\x80")
    back = weights_from_bytes(payload)
    assert back.kind == weights.kind and back.config == weights.config and back.losses == weights.losses
    assert back.state_dict.keys() == weights.state_dict.keys()
    assert all(torch.equal(back.state_dict[k], v) for k, v in weights.state_dict.items())
    import json

    json.dumps(weights.config)  # JSON-able
    assert {"kind", "face_dim", "tokens", "scale"} <= set(weights.config)
