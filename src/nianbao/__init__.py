"""nianbao: the yearly collection of 政府信息公开工作年度报告, end to end."""

__version__ = "0.1.0"
