using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using OneDiff.Cli.Terminal;
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
        var gpus = new Option<int?>("--gpus") { Description = "with --check: plan for this many data-parallel ranks (default: as launched, mpirun -np N or srun; else 1): the global batch and the memory per GPU" };
        gpus.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is < 1) r.AddError("--gpus must be at least 1"); });
        var command = new Command("train", "Train OneDiff (stage I when captions are given, then stage II) and save the model; " +
            "started by mpirun -np N or srun, each process trains data-parallel as one rank (docs/distributed.md)") { config, check, noDecode, all, gpus };
        CliAction.Set(command, (parse, cancel) =>
        {
            if ((parse.GetValue(noDecode) || parse.GetValue(all) || parse.GetValue(gpus) is not null) && !parse.GetValue(check))
                throw new UsageException("--no-decode, --all and --gpus apply to --check only");
            var c = TrainConfig.Read(parse.GetValue(config)!);
            return parse.GetValue(check) ? Check(c, decode: !parse.GetValue(noDecode), listAll: parse.GetValue(all), parse.GetValue(gpus)) : Run(c, cancel);
        }, OutOfMemoryAdvice);
        return command;
    }

    /// <summary>Said when building the model runs out of memory (a stage that runs out says its own).</summary>
    const string OutOfMemoryAdvice = "a preset that fits the device (Tiny on a CPU), a GPU with more memory, or a plan that needs less: " +
        "onediff train --check prints what the weights and training state take";

    static List<DiffCapRecord> ReadRecords(TrainConfig c, DatasetRef s, DataReport report) =>
        DatasetReader.ForFormat(s.Format).Read(c.Resolve(s.Root), new ReadOptions { Split = s.Split }, report);

    static int Run(TrainConfig c, CancellationToken cancel)
    {
        if (c.Train.Count == 0) throw new InvalidDataException($"{c.FilePath}: \"train\" lists no dataset");
        var trainerOptions = c.TrainerOptions();
        // The training record goes beside the checkpoints, or beside the saved model when there are none.
        trainerOptions.MetricsFolder ??= trainerOptions.CheckpointFolder ?? Path.GetDirectoryName(c.Resolve(c.Output));
        var plan = c.Plan(trainerOptions); // an option out of range stops here, before any data is read
        bool main = plan.Launch.IsMain; // in a data-parallel job, rank 0 alone prints and saves
        return WorkProgress.Run("steps", progress => Fit(c, trainerOptions, plan, main, progress, cancel));
    }

    static int Fit(TrainConfig c, DiffCaptionTrainer.Options trainerOptions, TrainingPlan plan, bool main, WorkProgress progress, CancellationToken cancel)
    {
        var ml = new MLContext(seed: 1);
        // Ctrl+C or SIGTERM is ML.NET's own cancellation: Fit stops at its next step and writes a checkpoint when it keeps them.
        using var ctrlC = cancel.Register(ml.DiffCaptioning().CancelExecution);
        ml.Log += (_, e) =>
        {
            if (e.Source.StartsWith("OneDiff", StringComparison.Ordinal) && e.Kind is Microsoft.ML.Runtime.ChannelMessageKind.Info or Microsoft.ML.Runtime.ChannelMessageKind.Warning)
                progress.Out(e.RawMessage);
        };
        var catalog = ml.DiffCaptioning();
        IDataView Load(List<DatasetRef> sets)
        {
            var records = sets.SelectMany(s =>
            {
                var report = new DataReport(c.SkipBad ? BadInputMode.Skip : BadInputMode.Error);
                var r = ReadRecords(c, s, report);
                if (main) foreach (var p in report.Skipped) progress.Out($"skipped {p}");
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
        var trainer = catalog.Trainers.OneDiff(trainerOptions);
        DiffCaptionTransformer model;
        // The bar follows ML.NET's progress channel, as any ML.NET host could.
        using (progress.Every(() => ShowTraining(catalog, progress)))
            model = trainer.Fit(train);
        // The channel closes with Fit; its end is the last record (every stage's last step is one).
        if (trainer.TrainingRecords.LastOrDefault(r => r.Loss is not null) is { } last)
            progress.Report(StageName(last.Stage), last.Step, last.TotalSteps, Loss(last.Loss!.Value));
        if (!main) return ExitCodes.Success;
        string output = c.Resolve(c.Output);
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        // A 7B model's zip takes minutes to write (ML.NET deflates it): say so before, and how it went after.
        progress.Out($"saving {output} ...");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ml.Model.Save(model, train.Schema, output);
        progress.Out($"saved {output} ({new FileInfo(output).Length / 1e6:F1} MB in {clock.Elapsed.TotalSeconds:F0} s)");
        progress.Out($"training record: {Path.Combine(plan.RecordFolder!, TrainingRecord.FileName)}, {Path.Combine(plan.RecordFolder!, TrainingRecord.PlotName)}");
        return ExitCodes.Success;
    }

    /// <summary>The running stage's steps and loss, as the trainer's progress channel last gave them.</summary>
    static void ShowTraining(DiffCaptioningCatalog catalog, WorkProgress progress)
    {
        if (catalog.Progress().FirstOrDefault(r => r.Name == "OneDiff training") is not { } report) return;
        if (!report.Units.TryGetValue("stage", out var stage) || !report.Units.TryGetValue("step", out var step) || step.Limit is not { } total) return;
        progress.Report(StageName((int)stage.Value), step.Value, total, report.Metrics.TryGetValue("loss", out var loss) ? Loss(loss) : null);
    }

    static string StageName(int stage) => stage == (int)TrainingStage.CoupledSampleTraining ? "stage I" : "stage II";

    static string Loss(double loss) => $"loss {loss.ToString("F4", CultureInfo.InvariantCulture)}";

    static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    static string G(long bytes) => bytes >= 1L << 30
        ? (bytes / (double)(1L << 30)).ToString("F1", CultureInfo.InvariantCulture) + " GiB"
        : (bytes / (double)(1L << 20)).ToString("F1", CultureInfo.InvariantCulture) + " MiB";

    const int ProblemsShown = 20;

    /// <summary><c>--check</c>: the plan the config resolves to (the model Fit would build, both
    /// stages, the memory they take), and every problem of its folders and data; exits 1 on any.</summary>
    static int Check(TrainConfig c, bool decode, bool listAll, int? gpus)
    {
        var problems = new List<string>();
        var o = c.TrainerOptions();
        Console.WriteLine($"config {c.FilePath}: preset {o.Preset}, device {o.Device}");
        TrainingPlan? plan = null;
        try { plan = c.Plan(o); }
        catch (InvalidDataException e) { problems.Add(e.Message); }
        if (gpus is { } n && plan is not null) plan = plan.WithRanks(n);
        if (plan is { Ranks: > 1 })
            Console.WriteLine($"data-parallel: {plan.Ranks} ranks ({plan.Launch.Launcher}), optimizer state {(plan.ShardOptimizerState ? "sharded (ZeRO stage 1)" : "on every rank")}, " +
                $"gradients summed in buckets of {(plan.GradientBucketMegabytes is { } mb ? $"{mb} MB" : "the engine's size (NCCL 25 MB, MPI 4 MB)")}; the batches below are per rank, then the global batch");
        if (plan is not null) CheckModel(plan, problems);

        // Stage I: the single-image captions and the coupled samples they make.
        int singles = c.Captions is { } caps ? CheckCaptions(c, caps, decode, problems) : 0;
        if (plan?.StageOne is { } one)
            Console.WriteLine($"stage I (Coupled Sample Training): {N(singles)} captioned images -> {N(singles / 2)} coupled samples; {StagePlan(one, singles / 2, plan.Ranks)}");
        else if (c.Captions is not null) Console.WriteLine($"captions: {N(singles)} captioned images");

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
        int conversations = c.Conversations is { } convs ? CheckConversations(c, convs, decode, problems) : 0;
        if (c.Train.Count == 0) problems.Add("\"train\" lists no dataset");
        else if (examples == 0) problems.Add("stage II has no training examples: every train dataset is empty or unreadable");
        else if (plan is not null)
            Console.WriteLine($"stage II (instruction tuning): {N(examples)} {(plan.Examples.PackReferences ? "pairs (references packed)" : "examples (one per reference caption)")}" +
                (conversations > 0 ? $" and {N(conversations)} conversations" : "") + "; " + StagePlan(plan.StageTwo, examples + conversations, plan.Ranks));
        if (plan is not null) PrintTraining(plan);
        Console.WriteLine($"output: {c.Resolve(c.Output)}");
        if (c.SkipBad && problems.Count > 0) Console.WriteLine("skipBad is set: training would skip the records below and go on");
        Console.WriteLine(problems.Count == 0 ? "no problems found" : $"{N(problems.Count)} problem(s):");
        PrintProblems(problems, listAll ? int.MaxValue : ProblemsShown);
        return problems.Count == 0 ? ExitCodes.Success : ExitCodes.Failed;
    }

    /// <summary>The model folders (their checkpoints' headers, the tokenizer) and the model the plan builds.</summary>
    static void CheckModel(TrainingPlan plan, List<string> problems)
    {
        problems.AddRange(plan.FolderProblems.Select(p => $"options.{p}"));
        foreach (var (name, folder) in new[] { ("ClipFolder", plan.Folders.Clip), ("BertFolder", plan.Folders.Bert), ("LlmFolder", plan.Folders.Llm) })
        {
            if (folder is null) continue;
            try
            {
                using var checkpoint = SafetensorsCheckpoint.Open(folder);
                Console.WriteLine($"{name} {folder}: {N(checkpoint.Names.Count)} tensors in {checkpoint.Files.Count} file(s)");
            }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException or IOException or JsonException) { problems.Add($"options.{name}: {e.Message}"); }
        }
        if (plan.Folders.Llm is { } llm)
        {
            try { Console.WriteLine($"tokenizer: {N(TextTokenizer.FromFolder(llm).VocabSize)} pieces"); }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException or IOException or JsonException or InvalidOperationException) { problems.Add($"options.LlmFolder: {e.Message}"); }
        }
        var m = plan.Model;
        string From(string? folder) => folder is null ? $"preset {plan.Preset}" : folder;
        Console.WriteLine($"model {m.Name}: CLIP {m.Vision.NumHiddenLayers} layers of {m.Vision.HiddenSize} at {m.Vision.ImageSize} px ({From(plan.Folders.Clip)}); " +
            $"delta module {m.Delta.NumHiddenLayers} layers of {m.Delta.HiddenSize}, {m.NumDeltaTokens} delta tokens reading CLIP layers {string.Join(", ", m.DeltaFeatureLayers)}, " +
            $"readout {m.Readout} ({From(plan.Folders.Bert)}); patches of layer {m.PatchFeatureLayer}, fusion {m.Fusion}, {m.VisualTokens} visual tokens; " +
            $"LLM {m.Llm.ModelType} {m.Llm.NumHiddenLayers} layers of {m.Llm.HiddenSize} ({From(plan.Folders.Llm)}); templates {m.StageOneTemplate} / {m.StageTwoTemplate}; " +
            $"{N(plan.Memory(TrainingStage.InstructionTuning, TorchSharp.torch.ScalarType.BFloat16).Parameters)} parameters");
    }

    /// <summary>LoRA, the optimizer, and what each stage's weights and training state take on a GPU.</summary>
    static void PrintTraining(TrainingPlan plan)
    {
        if (plan.Lora is { } lora)
            Console.WriteLine($"stage II LoRA: rank {lora.Rank}, alpha {lora.Alpha.ToString("G4", CultureInfo.InvariantCulture)}, dropout {lora.Dropout.ToString("G3", CultureInfo.InvariantCulture)} " +
                $"on {string.Join(", ", lora.Targets)}: {N(lora.ParameterCount(plan.Model.Llm))} adapter parameters train, the LLM's own stay frozen; merged into the LLM when training ends");
        Console.WriteLine(plan.StageTwo.MasterWeights
            ? "optimizer: AdamW; weights kept in bf16 (on CUDA) are updated through fp32 copies (MasterWeights: 8 more bytes per trained parameter)"
            : "optimizer: AdamW on the weights as stored (MasterWeights: false; in bf16, updates under its resolution are lost)");
        // Counted on the plan's model built on the meta device, in bf16 as on a GPU.
        string Memory(TrainingStage stage)
        {
            var m = plan.Memory(stage, TorchSharp.torch.ScalarType.BFloat16);
            return $"{G(m.TotalBytes)} (weights {G(m.WeightBytes)}, gradients {G(m.GradientBytes)}, optimizer {G(m.OptimizerBytes)})";
        }
        Console.WriteLine($"GPU memory in bf16 before activations{(plan.Ranks > 1 ? $", per GPU of {plan.Ranks}" : "")}: " +
            (plan.StageOne is not null ? $"stage I {Memory(TrainingStage.CoupledSampleTraining)}; " : "") +
            $"stage II {Memory(TrainingStage.InstructionTuning)}; activations come on top (measured 7B steps: docs/benchmarks.md)");
    }

    /// <summary>The captions of stage I, read and (with <paramref name="decode"/>) their images decoded; returns how many there are.</summary>
    static int CheckCaptions(TrainConfig c, Dictionary<string, string> caps, bool decode, List<string> problems)
    {
        var report = new DataReport(BadInputMode.Skip);
        string file = c.Resolve(caps["llava"]);
        if (!File.Exists(file)) { problems.Add($"captions.llava: file not found: {file}"); return 0; }
        var singles = new LlavaCaptionReader().Read(file, c.Resolve(caps.GetValueOrDefault("images") ?? "."), report);
        problems.AddRange(report.Skipped.Select(p => $"captions: {p}"));
        if (decode) problems.AddRange(ImageCheck.Problems(singles.Select(s => ($"id {s.Id}", ImageInput.FromPath(s.Image)))).Select(p => $"captions: {p}"));
        if (singles.Count < 2) problems.Add($"captions: stage I needs at least two captioned images, {file} gives {singles.Count}");
        return singles.Count;
    }

    /// <summary>The conversations mixed into stage II; returns how many there are.</summary>
    static int CheckConversations(TrainConfig c, Dictionary<string, string> convs, bool decode, List<string> problems)
    {
        var report = new DataReport(BadInputMode.Skip);
        string file = c.Resolve(convs["llava"]);
        if (!File.Exists(file)) { problems.Add($"conversations.llava: file not found: {file}"); return 0; }
        var reader = new LlavaConversationReader();
        var read = reader.Read(file, c.Resolve(convs.GetValueOrDefault("images") ?? "."), report);
        problems.AddRange(report.Skipped.Select(p => $"conversations: {p}"));
        if (decode) problems.AddRange(ImageCheck.Problems(read.Select(r => ($"id {r.Id}", ImageInput.FromPath(r.Image)))).Select(p => $"conversations: {p}"));
        Console.WriteLine($"conversations: {N(read.Count)} about single images, {N(read.Sum(r => r.Turns.Count))} turns; {N(reader.TextOnly)} text-only record(s) left out" +
            (report.Skipped.Count > 0 ? $"; {N(report.Skipped.Count)} problem(s), listed below" : ""));
        return read.Count;
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

    static string StagePlan(StageSettings s, int examples, int ranks)
    {
        var (perEpoch, total) = s.Steps(Math.Max(1, examples), ranks);
        string lrs = string.Join(", ", s.LearningRates.Select(kv => $"{kv.Key} {kv.Value.ToString("0.###E+0", CultureInfo.InvariantCulture)}"));
        string span = s.MaxSteps is null ? $"{s.Epochs} epoch(s) of {N(perEpoch)}" : $"MaxSteps; an epoch is {N(perEpoch)}";
        string batch = ranks == 1 ? $"batch {s.BatchSize} x {s.GradientAccumulation} accumulated = {s.BatchSize * s.GradientAccumulation}"
            : $"batch {s.BatchSize} x {s.GradientAccumulation} accumulated x {ranks} ranks = {(long)s.BatchSize * s.GradientAccumulation * ranks}";
        return $"{batch}; {N(total)} optimizer steps ({span}); learning rates {lrs}";
    }
}
