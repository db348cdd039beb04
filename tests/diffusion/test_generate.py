import numpy as np
import pytest

from components.diffusion.generate import PeftGenerator
from components.protocols import Generator
from tests.diffusion.conftest import request


@pytest.fixture(scope="module")
def generator(tiny_pipeline):
    return PeftGenerator(tiny_pipeline)


def _assert_clean(pipeline, scheduler):
    assert pipeline.get_list_adapters() == {}
    assert not getattr(pipeline.unet, "peft_config", None)
    assert pipeline.scheduler is scheduler


def test_satisfies_generator_protocol(generator):
    assert isinstance(generator, Generator)


def test_face_lora_changes_images_and_same_seeds_repeat(generator, trained):
    pipeline, scheduler = generator.pipeline, generator.pipeline.scheduler
    face = trained[0].state_dict
    plain = generator.generate(request(), None, None)
    assert len(plain) == 2 and plain[0].shape == (32, 32, 3) and plain[0].dtype == np.uint8
    assert not np.array_equal(plain[0], plain[1])
    with_face = generator.generate(request(), face, None)
    _assert_clean(pipeline, scheduler)
    assert any(not np.array_equal(a, b) for a, b in zip(plain, with_face))
    again = generator.generate(request(), face, None)
    assert all(np.array_equal(a, b) for a, b in zip(with_face, again))
    # face + style (here the same LoRA as style) at their weights
    both = generator.generate(request(face_weight=0.25), face, face)
    assert len(both) == 2
    _assert_clean(pipeline, scheduler)
    assert all(np.array_equal(a, b) for a, b in zip(plain, generator.generate(request(), None, None)))


def test_images_do_not_depend_on_batch_composition(generator):
    batched = generator.generate(request(seeds=[11, 12, 13], batch_size=2), None, None)
    single = generator.generate(request(seeds=[13], batch_size=1), None, None)
    diff = np.abs(batched[2].astype(int) - single[0].astype(int)).max()
    assert diff <= 1


@pytest.mark.parametrize("sampler", ["ddim", "euler", "euler_a", "dpm++", "dpm++_karras", "pndm", "unipc", "lms"])
def test_every_sampler_runs_and_scheduler_is_restored(generator, sampler):
    scheduler = generator.pipeline.scheduler
    first = generator.generate(request(sampler=sampler, seeds=[5], batch_size=1), None, None)
    assert first[0].shape == (32, 32, 3)
    assert np.array_equal(first[0], generator.generate(request(sampler=sampler, seeds=[5]), None, None)[0])
    _assert_clean(generator.pipeline, scheduler)


@pytest.mark.parametrize(
    "changes,message",
    [
        (dict(sampler="nope"), "ddim"),
        (dict(width=30), "multiple of 8"),
        (dict(steps=0), "steps"),
        (dict(seeds=[]), "seeds"),
    ],
)
def test_rejects_bad_requests(generator, changes, message):
    with pytest.raises(ValueError, match=message):
        generator.generate(request(**changes), None, None)


def test_unloadable_lora_is_an_error_and_leaves_pipeline_clean(generator):
    import torch

    scheduler = generator.pipeline.scheduler
    with pytest.raises(ValueError, match="face"):
        generator.generate(request(), {"unet.nothing.lora.down.weight": torch.zeros(1, 1)}, None)
    _assert_clean(generator.pipeline, scheduler)
