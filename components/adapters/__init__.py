"""Train-free face adapters (issue 7): FaceChain-FACT and FeedFace on a frozen SD UNet.

Pure components: tensors and arrays in, tensors and arrays out; no Prefect, no paths
(except ClipIdEncoder's local model folder).
"""
