"""Printable documents: a Jinja2 page shell, SVG charts from matplotlib, PDF and PNG by
headless Chromium. Commands above analyzer/ and alerts/ fill the templates."""
