// xorshift32: the same pseudo-random numbers on every host, so that generated datasets,
// and the runs over them, are comparable from machine to machine.

/** A generator of numbers in [0, 1) from `seed`. */
export function prng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}
