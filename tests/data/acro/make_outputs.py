"""How the outputs in this folder were made: ACRO 1.0.2 (PyPI ``acro``), run in a venv of
its own (its pins differ from ours). A crosstab with small cells (ACRO fails it; the
researcher asks for an exception) and a pivot table that passes."""

import numpy as np
import pandas as pd
from acro import ACRO

rng = np.random.default_rng(7)
n = 400
df = pd.DataFrame(
    {
        "region": rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.28, 0.02]),
        "grade": rng.choice(["A", "B", "C"], n),
        "income": rng.normal(30000, 5000, n).round(),
    }
)
acro = ACRO(suppress=False)
acro.crosstab(df.grade, df.region)
acro.pivot_table(df, index="grade", values="income", aggfunc="mean")
acro.add_comments("output_0", "small cells in west; asking for an exception")
acro.add_exception("output_0", "west cells are published elsewhere")
acro.finalise("acro_out", "json")
