"""nn/ops"""
