import numpy as np
import pytest
import torch

from components.adapters.id_encoder import ClipIdEncoder, DlibIdEncoder, LinearProjection, Resampler


def test_dlib_encoder_gives_one_128d_token_per_face():
    embeddings = np.random.default_rng(0).normal(size=(3, 128)).astype(np.float32)
    tokens = DlibIdEncoder().encode_embeddings(embeddings)
    assert tokens.shape == (3, 1, 128) and tokens.dtype == torch.float32
    assert torch.equal(tokens[:, 0], torch.from_numpy(embeddings))
    assert DlibIdEncoder().encode_embeddings(embeddings[0]).shape == (1, 1, 128)


@pytest.mark.parametrize("bad", [np.zeros((2, 64)), np.zeros((2, 3, 128)), np.full((1, 128), np.nan)])
def test_dlib_encoder_rejects_bad_embeddings(bad):
    with pytest.raises(ValueError):
        DlibIdEncoder().encode_embeddings(bad)


def test_clip_encoder_without_local_weights_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no CLIP vision model at"):
        ClipIdEncoder(str(tmp_path / "missing-clip"))
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        ClipIdEncoder("openai/clip-vit-not-in-this-cache")


def test_projections_map_face_tokens_to_adapter_tokens():
    face = torch.randn(2, 1, 128)
    linear = LinearProjection(128, 32, tokens=4)
    assert linear(face).shape == (2, 4, 32)
    assert linear(torch.randn(2, 3, 128)).shape == (2, 12, 32)  # every input token -> `tokens` tokens
    resampler = Resampler(128, 32, queries=4, heads=4, depth=2)
    assert resampler(face).shape == (2, 4, 32)
    assert resampler(torch.randn(2, 7, 128)).shape == (2, 4, 32)  # queries fix the token count


def test_projection_dimension_checks():
    with pytest.raises(ValueError):
        Resampler(128, 30, heads=4)
    with pytest.raises(ValueError):
        LinearProjection(128, 32, tokens=0)
    with pytest.raises(ValueError):
        LinearProjection(128, 32)(torch.randn(2, 1, 64))
