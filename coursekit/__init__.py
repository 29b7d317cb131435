"""coursekit: what the lessons share that is not graded: synthetic data and plots.

The notebooks import these helpers instead of repeating plotting and data code in every cell.
Nothing here is downloaded: every image is generated from a seed.
"""
