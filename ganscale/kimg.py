"""Training positions in kimg (thousands of real images shown), the unit of every schedule.

Its own module because checkpoints, sample grids and the tracker all name files by it, and none of
them should import another just for the name.
"""


def kimg_tag(cur_nimg: int) -> str:
    """File-name tag for a training position, e.g. kimg-000012.480 (sorts in training order)."""
    return f"kimg-{cur_nimg // 1000:06d}.{cur_nimg % 1000:03d}"
