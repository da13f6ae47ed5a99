package io.bonestream.cli;

import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.peft.PeftExport;
import io.bonestream.core.peft.PeftFormat;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.peft.PeftExporter;
import io.bonestream.engine.peft.PeftImporter;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Writes an adapter in another form.",
        "miss (PEFT >= 0.17), bone (PEFT 0.14-0.18),",
        "lora (what vLLM-style servers load; exact for bone, truncated SVD for bat),",
        "or merged (a full model folder with the adapter folded in)."})
final class ExportCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", required = true, paramLabel = "DIR", description = "the base model folder")
  Path model;

  @Option(names = "--adapter", required = true, paramLabel = "DIR", description = "PEFT adapter folder")
  Path adapter;

  @Option(names = "--format", required = true, paramLabel = "miss|bone|lora|merged",
      converter = Converters.Format.class, description = "output form")
  PeftFormat format;

  @Option(names = "--rank", defaultValue = "0", paramLabel = "N",
      description = "LoRA rank of a bat adapter's SVD (bone converts exactly at rank r)")
  int rank;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "output folder")
  Path out;

  @Override
  public Integer call() {
    PrintWriter o = spec.commandLine().getOut();
    OutputFolder.requireOutside(out, model, "--model");
    OutputFolder.requireOutside(out, adapter, "--adapter");
    BaseModel base = BaseModel.load(model);
    AdapterSet adapters = PeftImporter.read(adapter, base);
    PeftExport.Result r = PeftExporter.export(adapters, base, model, format, rank, out);
    if (format == PeftFormat.LORA && adapters.config().method() == AdapterMethod.BAT) {
      o.printf(Locale.ROOT, "truncated-SVD LoRA at rank %d: relative error %.3e overall, %.3e worst layer%n",
          rank, r.relativeError(), r.worstLayerError());
    }
    o.println("wrote " + format + " to " + r.dir());
    return 0;
  }
}
