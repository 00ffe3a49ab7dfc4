"""A pytest plugin that runs anyio's own test suite for the aioev oracle.

Loaded by Tests/oracles/run.py with ``-p aioev_anyio_oracle`` into pytest
runs of the tests/ folder of anyio's sdist, with anyio's own pytest
configuration (its pyproject.toml: -p anyio, timeouts, warnings as errors).
anyio's tests are not edited:

- The backend ``asyncio+aioev`` is added to the parameters of anyio's
  ``anyio_backend`` fixture (tests/conftest.py): the options of its
  ``asyncio`` backend plus ``loop_factory``, which anyio hands to
  asyncio.Runner.  The conftest's fixture is replaced, when pytest
  registers the conftest, by one with the longer parameter list.
- --oracle-loop KIND picks the loops: with stdlib (the baseline) the tests
  of the ``asyncio`` backend run; with the others those of asyncio+aioev,
  whose factory makes a loop of KIND (aioev's Task and Future from
  AIOEV_NATIVE_TASK).  Every other backend is deselected (trio, uvloop,
  eager).  Tests that make their loop themselves (asyncio.run,
  asyncio.new_event_loop, a parametrization of their own with "asyncio")
  get KIND's loops through the default policy (suitegate.
  patch_default_policy).
- Each test's outcome goes to --oracle-out as suitegate's JSON records; a
  faulthandler watchdog ends a test that hangs past --oracle-timeout
  (anyio's own pytest-timeout fails it first, at 20 s).

A test's id is pytest's node id; the same test on the two backends has ids
that differ in the backend's parameter id only (oracle_key gives the
baseline's id).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
import suitegate  # noqa: E402  (Tests/suitegate.py)
del sys.path[0]

BACKEND_ID = 'asyncio+aioev'
BASELINE_ID = 'asyncio'

_state = {'factory': None, 'out': None, 'outcomes': {}, 'loops': {}}


def loop_factory():
    """The asyncio+aioev backend's loop_factory: a loop of --oracle-loop's
    kind."""
    return _state['factory']()


def oracle_key(test_id):
    """The id of the same test on anyio's asyncio backend."""
    head, sep, params = test_id.partition('[')
    if not sep:
        return test_id
    parts = params[:-1].split('-')
    parts = [BASELINE_ID if p == BACKEND_ID else p for p in parts]
    return f'{head}[{"-".join(parts)}]'


def pytest_addoption(parser):
    group = parser.getgroup('aioev oracle')
    group.addoption('--oracle-loop', choices=suitegate.LOOP_KINDS,
                    help='the loop kind under test (stdlib: the baseline)')
    group.addoption('--oracle-out', help='file of JSON records')
    group.addoption('--oracle-skip', help='file of test ids not to run')
    group.addoption('--oracle-only', help='file of test ids to run')
    group.addoption('--oracle-match', action='append', default=[],
                    help='run only the ids matching this pattern')
    group.addoption('--oracle-deselect', action='append', default=[],
                    help='do not run the ids matching this pattern')
    group.addoption('--oracle-timeout', type=float, default=60.0,
                    help='seconds one test may take')


def _backend_param(params):
    """anyio's asyncio backend parameter, and ours made from it."""
    for param in params:
        if getattr(param, 'id', None) == BASELINE_ID:
            name, options = param.values[0]
            ours = (name, dict(options, loop_factory=loop_factory))
            return pytest.param(ours, id=BACKEND_ID)
    raise RuntimeError("anyio's conftest has no backend parameter with the "
                       "id 'asyncio': the oracle plugin needs updating")


@pytest.hookimpl(tryfirst=True)
def pytest_plugin_registered(plugin, plugin_name, manager):
    # pytest reads a conftest's fixtures when it collects the conftest's
    # folder, after this hook: the fixture replaced here is the one used.
    if not (plugin_name and plugin_name.endswith('conftest.py')
            and hasattr(plugin, 'anyio_backend')
            and hasattr(plugin, 'backend_params')):
        return
    params = list(plugin.backend_params) + [
        _backend_param(plugin.backend_params)]

    @pytest.fixture(params=params)
    def anyio_backend(request):
        return request.param
    plugin.anyio_backend = anyio_backend


def pytest_configure(config):
    kind = config.getoption('oracle_loop')
    if not kind:
        return
    _state['factory'] = suitegate.make_factory(kind)
    if kind != 'stdlib':
        suitegate.patch_default_policy(_state['factory'])
    _state['out'] = open(config.getoption('oracle_out'), 'a')
    _state['kind'] = kind
    _state['timeout'] = config.getoption('oracle_timeout')
    import faulthandler
    faulthandler.enable()


def _backend_of(item):
    """'ours', 'asyncio' (anyio's, no loop_factory), 'other' or None (the
    test does not take anyio_backend)."""
    callspec = getattr(item, 'callspec', None)
    if callspec is None or 'anyio_backend' not in callspec.params:
        return None
    value = callspec.params['anyio_backend']
    name, options = value if isinstance(value, tuple) else (value, {})
    if name != 'asyncio':
        return 'other'
    factory = options.get('loop_factory')
    if factory is loop_factory:
        return 'ours'
    return 'asyncio' if factory is None else 'other'


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    if _state['out'] is None:
        return
    baseline = _state['kind'] == 'stdlib'
    ours = {oracle_key(item.nodeid) for item in items
            if _backend_of(item) == 'ours'}
    skip = suitegate.read_ids(config.getoption('oracle_skip')) or set()
    only = suitegate.read_ids(config.getoption('oracle_only'))
    match = config.getoption('oracle_match')
    deselect = config.getoption('oracle_deselect')
    keep, drop = [], []
    for item in items:
        backend = _backend_of(item)
        if backend == 'other':
            run = False
        elif backend == 'ours':
            run = not baseline
        elif backend == 'asyncio':
            # Under test, the asyncio backend's tests run as asyncio+aioev,
            # except those parametrized by the test itself.
            run = baseline or item.nodeid not in ours
        else:
            run = True
        if run:
            run = suitegate.wanted(item.nodeid, skip, only, match, deselect,
                                   names=lambda i: (i, oracle_key(i)))
        (keep if run else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
    suitegate.write_record(_state['out'], event='loaded',
                           ids=[item.nodeid for item in keep])


def pytest_runtest_logstart(nodeid, location):
    if _state['out'] is None:
        return
    suitegate.arm_watchdog(_state['timeout'])
    _state['loops'][nodeid] = suitegate.created_loops
    suitegate.write_record(_state['out'], event='start', id=nodeid)


_RANK = suitegate.JsonResult.RANK


def pytest_runtest_logreport(report):
    if _state['out'] is None:
        return
    if report.passed:
        outcome = 'pass'
    elif report.skipped:
        outcome = 'xfail' if hasattr(report, 'wasxfail') else 'skip'
    elif report.when == 'call':
        outcome = 'fail'
    else:
        outcome = 'error'
    detail = None
    if not report.passed:
        detail = report.longreprtext[-6000:]
    old = _state['outcomes'].get(report.nodeid)
    if old is None or _RANK[outcome] > _RANK[old[0]]:
        _state['outcomes'][report.nodeid] = (outcome, detail)


def pytest_runtest_logfinish(nodeid, location):
    if _state['out'] is None:
        return
    outcome, detail = _state['outcomes'].pop(nodeid, ('pass', None))
    loops = suitegate.created_loops - _state['loops'].pop(nodeid, 0)
    suitegate.write_record(_state['out'], event='end', id=nodeid,
                           outcome=outcome, detail=detail, loops=loops)
    suitegate.arm_watchdog(_state['timeout'])


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if _state['out'] is None:
        return
    factory = _state['factory']
    suitegate.write_record(
        _state['out'], event='done', loops=suitegate.created_loops,
        policy_factory_ok=(_state['kind'] == 'stdlib'
                           or suitegate.policy_factory_ok(factory)))
    suitegate.finish_child(_state['out'])
