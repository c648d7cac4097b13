"""The api path never imports the emulator's server stack (an extra); the command line starts without it, and
without the workbook writer."""

import subprocess
import sys


def test_the_api_path_does_not_import_the_emulator_stack():
    code = (
        "import sys\n"
        "import fee_engine.cli, fee_engine.batch, fee_engine.taxdata.http, fee_engine.taxdata.client\n"
        "from fee_engine.taxdata.http import ApiConfig, fetch_api, fetch_fiks\n"
        "bad = [m for m in ('starlette', 'uvicorn', 'fee_engine.taxdata.emulator') if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_the_command_line_starts_without_the_workbook_writer():
    code = "import sys\nimport fee_engine.cli, fee_engine.batch\nprint('xlsxwriter' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
