"""Recipes: marec with Stable-Baselines3, TorchRL, Tianshou, CleanRL-style PPO, RLlib, BenchMARL."""
