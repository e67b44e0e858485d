"""The ``workbench`` command.

Each verb lives in its own module, which provides ``cli_arguments(parser)`` and ``cli_run(args) -> int``;
this file is only the registry (like papermill's engines), so adding a verb is one line here.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: verb -> (module, one-line Chinese help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("workbench.synth", "生成嵌入式示例省数据（含预置问题与真值清单）"),
    "templates": ("workbench.templates", "生成Excel填报模板"),
    "intake": ("workbench.intake", "导入Excel/CSV文件到工作区，或导出被拒行"),
    "check": ("workbench.rules.cli", "运行核查规则，保存并导出问题清单"),
    "exchange": ("workbench.exchange", "联合审核：导出各部门核查请求表"),
    "sample": ("workbench.sampling_cli", "督查验收抽样、互检轮换、实地核查结果评价"),
    "report": ("workbench.reports", "用Papermill批量生成分地区报告与整改台账"),
    "dashboard": ("workbench.serve", "启动Voila驾驶舱"),
    "demo": ("workbench.demo", "在示例省上端到端运行全部流程"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="编制核查工作台 · staffing-verification workbench")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for verb, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        p = sub.add_parser(verb, help=help_text, description=help_text)
        module.cli_arguments(p)
        p.set_defaults(_run=module.cli_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
