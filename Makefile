# Developer shortcuts; the README's two commands are the supported entry points.
.PHONY: install test lint format quickstart bench-attention

install:
	pip install -e ".[dev]"

test:
	pytest

lint:
	ruff check latte_vt tests && ruff format --check latte_vt tests

format:
	ruff format latte_vt tests && ruff check --fix latte_vt tests

quickstart:
	latte-vt quickstart

bench-attention:
	latte-vt bench attention
