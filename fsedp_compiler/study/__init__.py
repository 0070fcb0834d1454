"""fsedp-study: sweeps, tuning, tables and plots over compiled and simulated MoE layers."""
