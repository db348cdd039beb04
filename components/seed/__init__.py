"""The FaceChain seed's own models as backends, loaded offline through `modelscope`.

One small module per backend; each class states its hub id (`MODEL_ID`), the
revision FaceChain pins (`REVISION`) and its licence (`LICENCE`), and loads its
model once, in its constructor, from a local folder or the ModelScope cache
(`components.seed.hub`). Nothing here downloads: a missing model is refused
at once with the command that fetches it on a connected machine.
"""
