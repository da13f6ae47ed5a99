package io.bonestream.cli;

import io.bonestream.core.model.ModelConfig;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.generate.Generator;
import io.bonestream.engine.generate.Sampling;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.Transformer;
import io.bonestream.engine.peft.PeftImporter;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.util.Threads;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Generates a continuation of a prompt with the base model, or with an adapter.")
final class GenerateCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model folder")
  Path model;

  @Option(names = "--adapter", paramLabel = "DIR", description = "PEFT adapter folder (miss, bone or lora)")
  Path adapter;

  @CommandLine.ArgGroup(exclusive = true, multiplicity = "1")
  Prompt prompt;

  static final class Prompt {
    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "prompt text (BOS added as the tokenizer says)")
    String text;

    @Option(names = "--prompt-ids", required = true, split = ",", paramLabel = "1,2,3",
        description = "prompt as token ids, used as given")
    int[] ids;
  }

  @Option(names = "--max-new-tokens", defaultValue = "128", paramLabel = "N",
      description = "tokens to generate at most; the end-of-sequence token stops earlier (default: ${DEFAULT-VALUE})")
  int maxNewTokens;

  @Option(names = "--temperature", defaultValue = "0", paramLabel = "X",
      description = "0 = greedy (default: ${DEFAULT-VALUE})")
  double temperature;

  @Option(names = "--top-p", defaultValue = "1.0", paramLabel = "X",
      description = "nucleus sampling: the smallest set of tokens holding this probability (default: ${DEFAULT-VALUE})")
  double topP;

  @Option(names = "--seed", defaultValue = "0", paramLabel = "N", description = "sampling seed (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--output", defaultValue = "text", paramLabel = "text|ids",
      description = "text, or the generated ids as one JSON array (default: ${DEFAULT-VALUE})")
  String output;

  @Option(names = "--threads", defaultValue = "0", paramLabel = "N", description = "compute threads; 0 = auto: 1 below hidden size 512, else one per core")
  int threads;

  @Override
  public Integer call() {
    if (!output.equals("text") && !output.equals("ids")) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "Invalid value for option '--output': expected text or ids (was '" + output + "')");
    }
    Sampling sampling = new Sampling(maxNewTokens, temperature, topP, seed, true);
    Threads.configure(Threads.auto(threads, ModelConfig.read(model).hiddenSize()));
    PrintWriter out = spec.commandLine().getOut();
    BaseModel base = BaseModel.load(model);
    try (Tokenizer tokenizer = Tokenizer.load(model, base.config())) {
      BaseModel used = base;
      if (adapter != null) {
        AdapterSet adapters = PeftImporter.read(adapter, base);
        used = adapters.mergedInto(base);
      }
      Transformer t = new Transformer(used, null);
      int[] promptIds = prompt.ids != null ? prompt.ids : tokenizer.encode(prompt.text);
      for (int id : promptIds) {
        if (id < 0 || id >= base.config().vocabSize()) {
          throw new io.bonestream.core.BonestreamException("prompt id " + id
              + " is outside the vocabulary [0, " + base.config().vocabSize() + ")");
        }
      }
      if (output.equals("ids")) {
        int[] ids = Generator.generate(t, promptIds, sampling, tokenizer.eosId(), id -> { });
        out.println(java.util.Arrays.toString(ids).replace(" ", ""));
      } else {
        List<Integer> seen = new ArrayList<>();
        StringBuilder printed = new StringBuilder();
        Generator.generate(t, promptIds, sampling, tokenizer.eosId(), id -> {
          seen.add(id);
          String text = tokenizer.decode(seen.stream().mapToInt(Integer::intValue).toArray());
          if (text.startsWith(printed.toString())) {
            out.print(text.substring(printed.length()));
            out.flush();
            printed.setLength(0);
            printed.append(text);
          }
        });
        String all = tokenizer.decode(seen.stream().mapToInt(Integer::intValue).toArray());
        if (all.startsWith(printed.toString())) {
          out.print(all.substring(printed.length()));
        }
        out.println();
      }
    }
    return 0;
  }
}
