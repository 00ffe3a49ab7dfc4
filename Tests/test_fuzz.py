"""The differential fuzzer's fixed budget (Tests/fuzz): fixed seeds run on
asyncio's loop and on aioev in both task modes must give equal traces, and
the fuzzer must see a loop that reorders ready callbacks."""

import unittest

from .fuzz import runner

SEEDS = range(1000, 1060)


class FuzzTest(unittest.TestCase):
    def test_fixed_seeds(self):
        fz = runner.Fuzzer(('aioev', 'aioev-native'), log=lambda msg: None)
        try:
            for seed in SEEDS:
                found = fz.check_seed(seed)
                self.assertEqual(found, [], f'seed {seed}; reproducer saved')
        finally:
            fz.close()

    def test_detects_a_wrong_loop(self):
        # The broken loop swaps every third call_soon with the one before it.
        fz = runner.Fuzzer(('broken',), log=lambda msg: None)
        try:
            found = [f for seed in range(1000, 1010) for f in fz.check_seed(seed, shrink=False)]
        finally:
            fz.close()
        self.assertGreater(len(found), 3)


if __name__ == '__main__':
    unittest.main()
