"""Small formatting and option helpers shared by the commands."""


def fmt_shape(shape) -> str:
    return "x".join(str(int(s)) for s in shape)


def fmt_count(n: int) -> str:
    return f"{n:,}" if n else "-"
