using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using OneDiff.Data;
using OneDiff.Data.Images;
using OneDiff.Data.Readers;
using OneDiff.MLNet;
using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Tokenization;
using OneDiff.Modeling.Training;

namespace OneDiff.Cli.Commands;

/// <summary>
/// <c>onediff train --config FILE [--check [--no-decode]]</c>: trains OneDiff from a JSON or YAML
/// config (<see cref="TrainConfig"/>) and saves the model; with <c>--check</c>, reads everything the
/// run would read (config, model folders, every dataset and image) and prints the plan of both
/// stages without building the model.
/// </summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "a JSON or YAML training config (docs/training.md)", Required = true };
        var check = new Option<bool>("--check") { Description = "check the config, model folders, datasets and images, print the plan, and train nothing; exits 1 on any problem" };
        var noDecode = new Option<bool>("--no-decode") { Description = "with --check: check that images exist, without decoding each" };
        var all = new Option<bool>("--all") { Description = $"with --check: list every problem (by default the first {ProblemsShown} of each dataset, then their count)" };
        var command = new Command("train", "Train OneDiff (stage I when captions are given, then stage II) and save the model") { config, check, noDecode, all };
        command.SetAction(parse =>
        {
            try
            {
                if ((parse.GetValue(noDecode) || parse.GetValue(all)) && !parse.GetValue(check)) throw new ArgumentException("--no-decode and --all apply to --check only");
                var c = TrainConfig.Read(parse.GetValue(config)!);
                return parse.GetValue(check) ? Check(c, decode: !parse.GetValue(noDecode), listAll: parse.GetValue(all)) : Run(c);
            }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException or ArgumentException or JsonException or DataException
                                       or DirectoryNotFoundException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    static List<DiffCapRecord> ReadRecords(TrainConfig c, DatasetRef s, DataReport report) =>
        DatasetReader.ForFormat(s.Format).Read(c.Resolve(s.Root), new ReadOptions { Split = s.Split }, report);

    static int Run(TrainConfig c)
    {
        if (c.Train.Count == 0) throw new InvalidDataException($"{c.FilePath}: \"train\" lists no dataset");
        var trainerOptions = c.TrainerOptions();
        var ml = new MLContext(seed: 1);
        ml.Log += (_, e) =>
        {
            if (e.Source.StartsWith("OneDiff", StringComparison.Ordinal) && e.Kind is Microsoft.ML.Runtime.ChannelMessageKind.Info or Microsoft.ML.Runtime.ChannelMessageKind.Warning)
                Console.WriteLine(e.RawMessage);
        };
        var catalog = ml.DiffCaptioning();
        IDataView Load(List<DatasetRef> sets)
        {
            var records = sets.SelectMany(s =>
            {
                var report = new DataReport(c.SkipBad ? BadInputMode.Skip : BadInputMode.Error);
                var r = ReadRecords(c, s, report);
                foreach (var p in report.Skipped) Console.WriteLine($"skipped {p}");
                return r;
            }).ToList();
            return catalog.LoadImagePairs(records);
        }
        if (c.Captions is { } caps)
            trainerOptions.CaptionData = catalog.LoadImageCaptions(c.Resolve(caps["llava"]), c.Resolve(caps.GetValueOrDefault("images") ?? "."), c.SkipBad);
        if (c.Conversations is { } convs)
            trainerOptions.ConversationData = catalog.LoadImageConversations(c.Resolve(convs["llava"]), c.Resolve(convs.GetValueOrDefault("images") ?? "."), c.SkipBad);
        if (c.Validation.Count > 0) trainerOptions.ValidationData = Load(c.Validation);

        var train = Load(c.Train);
        var model = catalog.Trainers.OneDiff(trainerOptions).Fit(train);
        string output = c.Resolve(c.Output);
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        // A 7B model's zip takes minutes to write (ML.NET deflates it): say so before, and how it went after.
        Console.WriteLine($"saving {output} ...");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ml.Model.Save(model, train.Schema, output);
        Console.WriteLine($"saved {output} ({new FileInfo(output).Length / 1e6:F1} MB in {clock.Elapsed.TotalSeconds:F0} s)");
        return 0;
    }

    static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    const int ProblemsShown = 20;

    static int Check(TrainConfig c, bool decode, bool listAll)
    {
        var problems = new List<string>();
        var o = c.TrainerOptions();
        var trainer = new MLContext(seed: 1).DiffCaptioning().Trainers.OneDiff(o);
        Console.WriteLine($"config {c.FilePath}: preset {o.Preset}, device {o.Device}");

        // The model folders: their configs against the preset, their checkpoints' headers, the tokenizer.
        var folders = new PretrainedFolders(o.ClipFolder, o.BertFolder, o.LlmFolder);
        var given = new[] { ("ClipFolder", o.ClipFolder), ("BertFolder", o.BertFolder), ("LlmFolder", o.LlmFolder) }.Where(f => f.Item2 is not null).ToList();
        foreach (var (name, folder) in given)
        {
            if (!Directory.Exists(folder)) { problems.Add($"options.{name}: folder not found: {folder}"); continue; }
            try
            {
                using var checkpoint = SafetensorsCheckpoint.Open(folder!);
                Console.WriteLine($"{name} {folder}: {N(checkpoint.Names.Count)} tensors in {checkpoint.Files.Count} file(s)");
            }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException or IOException or JsonException) { problems.Add($"options.{name}: {e.Message}"); }
        }
        if (given.All(f => Directory.Exists(f.Item2)))
        {
            try
            {
                var resolved = OneDiffPretrained.Resolve(OneDiffConfig.Preset(o.Preset), folders);
                if (resolved.Tokenizer == "folder" && o.LlmFolder is null) problems.Add($"options.LlmFolder: preset {o.Preset} takes its weights and tokenizer from an LLM folder, and none is given");
                else if (o.LlmFolder is { } llm) Console.WriteLine($"tokenizer: {N(TextTokenizer.FromFolder(llm).VocabSize)} pieces");
            }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException or ArgumentException or JsonException or KeyNotFoundException or InvalidOperationException)
            {
                problems.Add($"model folders: {e.Message}");
            }
        }

        // Stage I: the single-image captions and the coupled samples they make.
        bool stageOne = o.RunStageOne ?? c.Captions is not null;
        if (stageOne && c.Captions is null) problems.Add("options.RunStageOne is true, but no 'captions' are given for stage I");
        if (stageOne && c.Captions is { } caps)
        {
            var report = new DataReport(BadInputMode.Skip);
            string file = c.Resolve(caps["llava"]);
            var singles = File.Exists(file) ? new LlavaCaptionReader().Read(file, c.Resolve(caps.GetValueOrDefault("images") ?? "."), report) : null;
            if (singles is null) problems.Add($"captions.llava: file not found: {file}");
            else
            {
                problems.AddRange(report.Skipped.Select(p => $"captions: {p}"));
                if (decode) problems.AddRange(ImageCheck.Problems(singles.Select(s => ($"id {s.Id}", ImageInput.FromPath(s.Image)))).Select(p => $"captions: {p}"));
                if (singles.Count < 2) problems.Add($"captions: stage I needs at least two captioned images, {file} gives {singles.Count}");
                var settings = trainer.StageOneSettings();
                Console.WriteLine($"stage I (Coupled Sample Training): {N(singles.Count)} captioned images -> {N(singles.Count / 2)} coupled samples; " +
                    Plan(settings, singles.Count / 2));
            }
        }

        // Stage II and validation: every dataset, as the trainer will read it.
        int examples = 0;
        foreach (var (sets, role) in new[] { (c.Train, "train"), (c.Validation, "validation") })
            for (int i = 0; i < sets.Count; i++)
            {
                var s = sets[i];
                string root = c.Resolve(s.Root);
                // A folder, or for diffcap also the .jsonl file itself.
                if (!Directory.Exists(root) && !File.Exists(root)) { problems.Add($"{role}[{i}] {s.Format}: dataset folder not found: {root}"); continue; }
                try
                {
                    var result = DatasetInspector.Inspect(s.Format, root, s.Split, decode);
                    Console.WriteLine($"{role}[{i}] {s.Format} {s.Split}: {N(result.Records)} records, {N(result.Pairs)} pairs, {N(result.References)} references" +
                        (result.Problems.Count > 0 ? $"; {N(result.Problems.Count)} problem(s), listed below" : ""));
                    problems.AddRange(result.Problems.Select(p => $"{role}[{i}] {s.Format}: {p}"));
                    if (role == "train") examples += o.PackReferences ? result.Records : result.References;
                }
                catch (Exception e) when (e is InvalidDataException or FileNotFoundException or DirectoryNotFoundException or ArgumentException or JsonException or DataException)
                {
                    problems.Add($"{role}[{i}] {s.Format} {root}: {e.Message}");
                }
            }
        // Conversations about single images mixed into stage II.
        int conversations = 0;
        if (c.Conversations is { } convs)
        {
            var report = new DataReport(BadInputMode.Skip);
            string file = c.Resolve(convs["llava"]);
            var reader = new LlavaConversationReader();
            var read = File.Exists(file) ? reader.Read(file, c.Resolve(convs.GetValueOrDefault("images") ?? "."), report) : null;
            if (read is null) problems.Add($"conversations.llava: file not found: {file}");
            else
            {
                problems.AddRange(report.Skipped.Select(p => $"conversations: {p}"));
                if (decode) problems.AddRange(ImageCheck.Problems(read.Select(r => ($"id {r.Id}", ImageInput.FromPath(r.Image)))).Select(p => $"conversations: {p}"));
                conversations = read.Count;
                Console.WriteLine($"conversations: {N(read.Count)} about single images, {N(read.Sum(r => r.Turns.Count))} turns; {N(reader.TextOnly)} text-only record(s) left out" +
                    (report.Skipped.Count > 0 ? $"; {N(report.Skipped.Count)} problem(s), listed below" : ""));
            }
        }
        if (c.Train.Count == 0) problems.Add("\"train\" lists no dataset");
        else if (examples == 0) problems.Add("stage II has no training examples: every train dataset is empty or unreadable");
        else Console.WriteLine($"stage II (instruction tuning): {N(examples)} {(o.PackReferences ? "pairs (references packed)" : "examples (one per reference caption)")}" +
            (conversations > 0 ? $" and {N(conversations)} conversations" : "") + "; " + Plan(trainer.StageTwoSettings(), examples + conversations));
        if (o.Lora() is { } lora)
            Console.WriteLine($"stage II LoRA: rank {lora.Rank}, alpha {lora.Alpha.ToString("G4", CultureInfo.InvariantCulture)}, dropout {lora.Dropout.ToString("G3", CultureInfo.InvariantCulture)} " +
                $"on {string.Join(", ", lora.Targets)}: {N(lora.ParameterCount(OneDiffConfig.Preset(o.Preset).Llm))} adapter parameters train, the LLM's own stay frozen; merged into the LLM when training ends");

        Console.WriteLine(o.MasterWeights
            ? "optimizer: AdamW; weights kept in bf16 (on CUDA) are updated through fp32 copies (MasterWeights: 8 more bytes per trained parameter)"
            : "optimizer: AdamW on the weights as stored (MasterWeights: false; in bf16, updates under its resolution are lost)");
        // What the weights and training state take on a GPU (bf16), counted on a model of shapes only.
        var config = OneDiffConfig.Preset(o.Preset);
        string Memory(TrainingStage stage, OneDiff.Modeling.Models.Llama.LoraConfig? lora)
        {
            var m = TrainingMemory.Of(config, stage, lora, TorchSharp.torch.ScalarType.BFloat16, o.MasterWeights);
            static string G(long bytes) => bytes >= 1L << 30
                ? (bytes / (double)(1L << 30)).ToString("F1", CultureInfo.InvariantCulture) + " GiB"
                : (bytes / (double)(1L << 20)).ToString("F1", CultureInfo.InvariantCulture) + " MiB";
            return $"{G(m.TotalBytes)} (weights {G(m.WeightBytes)}, gradients {G(m.GradientBytes)}, optimizer {G(m.OptimizerBytes)})";
        }
        Console.WriteLine("GPU memory in bf16 before activations: " + (stageOne ? $"stage I {Memory(TrainingStage.CoupledSampleTraining, null)}; " : "") +
            $"stage II {Memory(TrainingStage.InstructionTuning, o.Lora())}; activations come on top (measured 7B steps: docs/benchmarks.md)");
        Console.WriteLine($"output: {c.Resolve(c.Output)}");
        if (c.SkipBad && problems.Count > 0) Console.WriteLine("skipBad is set: training would skip the records below and go on");
        Console.WriteLine(problems.Count == 0 ? "no problems found" : $"{N(problems.Count)} problem(s):");
        PrintProblems(problems, listAll ? int.MaxValue : ProblemsShown);
        return problems.Count == 0 ? 0 : 1;
    }

    /// <summary>The problems grouped by where they come from (the text before the first ": ", such as
    /// "train[0] spot-the-diff"), the first <paramref name="shown"/> of each, then how many more: a
    /// dataset whose images are not there yet would otherwise bury the plan under thousands of lines.</summary>
    static void PrintProblems(List<string> problems, int shown)
    {
        foreach (var source in problems.GroupBy(p => p.Split(": ", 2)[0]))
        {
            foreach (var p in source.Take(shown)) Console.WriteLine($"  {p}");
            int more = source.Count() - shown;
            if (more > 0) Console.WriteLine($"  ... and {N(more)} more from {source.Key} (--all lists every one)");
        }
    }

    static string Plan(StageSettings s, int examples)
    {
        var (perEpoch, total) = s.Steps(Math.Max(1, examples));
        string lrs = string.Join(", ", s.LearningRates.Select(kv => $"{kv.Key} {kv.Value.ToString("0.###E+0", CultureInfo.InvariantCulture)}"));
        string span = s.MaxSteps is null ? $"{s.Epochs} epoch(s) of {N(perEpoch)}" : $"MaxSteps; an epoch is {N(perEpoch)}";
        return $"batch {s.BatchSize} x {s.GradientAccumulation} accumulated = {s.BatchSize * s.GradientAccumulation}; {N(total)} optimizer steps ({span}); learning rates {lrs}";
    }
}
