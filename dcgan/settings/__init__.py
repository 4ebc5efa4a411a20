"""Settings: every setting declared once (config), the presets (recipes), what older versions wrote (compat), ConfigError.

Owns: what a run is asked to be, checked before anything else happens. May import: the root's leaf services
(log, sizes) and nothing else of the package.
"""
