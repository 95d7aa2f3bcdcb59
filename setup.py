"""Packaging for preemptive-scheduler."""
from setuptools import find_packages, setup

setup(
    name="preemptive-scheduler",
    version="0.1.0",
    description="A Kubernetes scheduler with strict priorities, preemption, gang placement and load-aware filtering",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["scheduler", "scheduler.*"]),
    package_data={"scheduler.sim": ["scenarios/*.yaml"]},
    install_requires=[
        "kubernetes>=28,<38",
        "prometheus-api-client>=0.5,<1",
        "prometheus-client>=0.16,<1",
        "PyYAML>=5.4,<7",
        "numpy>=1.21,<3",
    ],
    extras_require={
        "test": [
            "pytest>=7,<10",
            "pytest-timeout>=2,<3",
            "kubernetes-validate>=1.28",
            "psutil>=5",
            "hypothesis>=6,<7",
        ],
    },
    entry_points={"console_scripts": ["preemptive-scheduler=scheduler.cli:main"]},
)
