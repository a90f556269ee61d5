"""Wall-time model of a cpu-proxy search with K rewarded samples per step (no measurement here).

t(search) = trace + sum over steps of t(step):
  delay steps (controller frozen, no validation forwards):  t_train * (w_op if op warm-up else 1)
  RL steps:                                                 t_train + K * t_val(N)
t_val(N) = a + b N.  Inputs (seconds), 2-core machine, cpu-proxy preset (32 px, stem stride 1,
width 0.25, batch 32):
  t_train = 0.25   time_step.py train32 (0.253 s, load 2.4 -> 9; supernet_step.md: 0.209 s at
                   stem stride 2, load ~1.5)
  a, b = 0.081 - 32 b, 0.0033  time_step.py val32 0.081 s, val128 0.399 s, val512 1.56 s (loaded)
  w_op = 4.5       search_config.py notes: op warm-up steps 25-40 s vs one-path ~7 s
  trace = 180      time_step.py first call 178 s under load (supernet_step.md: 90 s)
Check against the committed run (600 steps, K = 1, N = 64, RL during the delay, 410 s measured):
the model gives the value printed as `committed check`.
Run: python time_model.py
"""

T_TRAIN, B = 0.25, 0.0033
A = 0.081 - 32 * B
W_OP, TRACE = 4.5, 180.0


def t_val(n: int) -> float:
    return A + B * n


def search_seconds(
    steps: int,
    k: int,
    n: int = 64,
    delay: float = 0.25,
    op_warmup: float = 0.10,
    rl_in_delay: bool = False,
) -> float:
    d, w = int(delay * steps), int(op_warmup * steps)
    t = TRACE
    for s in range(steps):
        val = k * t_val(n) if (s >= d or rl_in_delay) else 0.0
        t += (T_TRAIN + val) * (W_OP if s < w else 1.0)
    return t


if __name__ == "__main__":
    print(
        f"committed check (600 steps, K 1, N 64, op warm-up 0.1, RL during delay): "
        f"{search_seconds(600, 1, 64, rl_in_delay=True):.0f} s (measured 410 s, trace 90 s there)"
    )
    for steps, k, n in (
        (1800, 8, 64),
        (2000, 8, 64),
        (1500, 8, 64),
        (2500, 4, 64),
        (1000, 16, 64),
        (1400, 8, 128),
        (600, 1, 64),
    ):
        s = search_seconds(steps, k, n)
        print(
            f"T {steps:5d}  K {k:2d}  N {n:4d}: {s / 60:5.1f} min  "
            f"(RL samples {int(0.75 * steps) * k}, "
            f"validation images {int(0.75 * steps) * k * n:,}, "
            f"train epochs {steps * 32 / 45000:.2f})"
        )
