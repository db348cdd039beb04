"""How the tiny random test models are named wherever they show (kept free of torch imports)."""

TEST_MODEL_LABEL = "tiny random test model — not a real portrait model"
