"""LightningModules and DataModules for the two tasks (need ``pip install 'latte-vt[video]'`` or ``[transactions]``)."""
