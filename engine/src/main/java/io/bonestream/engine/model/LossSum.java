package io.bonestream.engine.model;

/**
 * The (weighted) summed token loss of a batch, its target token count and their total weight.
 */
public record LossSum(double sum, int targets, double weight) {}
