"""Hidden checks, one module per notebook, called from the notebooks' hidden test cells.

A hidden test cell holds one call such as ``nb01.grade_discounted_returns(discounted_returns)``:
students never see these checks (nbgrader strips the cell's hidden part from their copy) and the
feedback shows only the report printed here, not this code or the reference.
"""
