"""Training: the loop (loop), one iteration's D and G steps (steps), the state a checkpoint holds (state), losses,
stabilisers, mixed precision, torch.compile and CUDA graphs, torchrun, divergence, and what a run writes (writer,
history, folder, tensorboard_log).

Owns: a run, from its settings to its run folder. May import: settings, data, evaluation (scoring during a run)
and the root's services; never lab.
"""
