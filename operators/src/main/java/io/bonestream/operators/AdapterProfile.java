package io.bonestream.operators;

import io.bonestream.engine.adapters.AdapterConfig;
import io.bonestream.engine.train.TrainConfig;
import java.io.Serializable;

/** How one adapter is trained: its kind and shape, and its optimizer settings. */
public record AdapterProfile(AdapterConfig adapter, TrainConfig train) implements Serializable {}
