"""Hook implementations (the plugin's entry point): light, every implementation named by import string."""
