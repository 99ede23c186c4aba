using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.ML;
using OneDiff.MLNet;

namespace OneDiff.Cli.Commands;

/// <summary>
/// <c>onediff train --config FILE</c>: trains OneDiff from a JSON or YAML config naming the
/// datasets (formats of <c>onediff data inspect</c>) and the trainer options, and saves the model.
/// </summary>
public static class TrainCommand
{
    /// <summary>A dataset entry of the config.</summary>
    public sealed record DatasetRef(string Format, string Root, string Split = "train");

    /// <summary>The training config; relative paths are relative to the config file.</summary>
    public sealed record TrainConfig
    {
        public List<DatasetRef> Train { get; init; } = [];
        public List<DatasetRef> Validation { get; init; } = [];
        /// <summary>Single-image captions for stage I: {"llava": file, "images": folder}.</summary>
        public Dictionary<string, string>? Captions { get; init; }
        /// <summary>Any DiffCaptionTrainer option by name (Preset, StageTwoEpochs, BatchSize, ...).</summary>
        public JsonObject Options { get; init; } = [];
        public string Output { get; init; } = "onediff-model.zip";
        public bool SkipBad { get; init; }
    }

    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "a JSON or YAML training config (docs/training.md)", Required = true };
        var command = new Command("train", "Train OneDiff (stage I when captions are given, then stage II) and save the model") { config };
        command.SetAction(parse =>
        {
            try { return Run(parse.GetValue(config)!); }
            catch (Exception e) when (e is InvalidDataException or FileNotFoundException or ArgumentException or JsonException or OneDiff.Data.DataException
                                       or DirectoryNotFoundException or YamlDotNet.Core.YamlException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    public static TrainConfig Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"config not found: {path}", path);
        string text = File.ReadAllText(path);
        if (path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
        {
            var yaml = new YamlDotNet.Serialization.DeserializerBuilder().WithAttemptingUnquotedStringTypeDeserialization().Build().Deserialize<object>(text);
            text = JsonSerializer.Serialize(yaml);
        }
        var options = new JsonSerializerOptions { PropertyNameCaseInsensitive = true };
        return JsonSerializer.Deserialize<TrainConfig>(text, options) ?? throw new InvalidDataException($"{path}: empty config");
    }

    static int Run(string configPath)
    {
        var c = Read(configPath);
        string baseDir = Path.GetDirectoryName(Path.GetFullPath(configPath))!;
        string Abs(string p) => Path.IsPathRooted(p) ? p : Path.Combine(baseDir, p);
        if (c.Train.Count == 0) throw new InvalidDataException($"{configPath}: \"train\" lists no dataset");

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
                var report = new OneDiff.Data.DataReport(c.SkipBad ? OneDiff.Data.BadInputMode.Skip : OneDiff.Data.BadInputMode.Error);
                var r = OneDiff.Data.Readers.DatasetReader.ForFormat(s.Format).Read(Abs(s.Root), new OneDiff.Data.Readers.ReadOptions { Split = s.Split }, report);
                foreach (var p in report.Skipped) Console.WriteLine($"skipped {p}");
                return r;
            }).ToList();
            return catalog.LoadImagePairs(records);
        }

        var trainerOptions = c.Options.Deserialize<DiffCaptionTrainer.Options>(new JsonSerializerOptions { PropertyNameCaseInsensitive = true, Converters = { new JsonStringEnumConverter() } }) ?? new DiffCaptionTrainer.Options();
        foreach (var folder in new[] { nameof(trainerOptions.ClipFolder), nameof(trainerOptions.BertFolder), nameof(trainerOptions.LlmFolder), nameof(trainerOptions.CheckpointFolder) })
        {
            var prop = typeof(DiffCaptionTrainer.Options).GetProperty(folder)!;
            if (prop.GetValue(trainerOptions) is string p) prop.SetValue(trainerOptions, Abs(p));
        }
        if (c.Captions is { } caps)
            trainerOptions.CaptionData = catalog.LoadImageCaptions(Abs(caps["llava"]), Abs(caps.GetValueOrDefault("images") ?? "."), c.SkipBad);
        if (c.Validation.Count > 0) trainerOptions.ValidationData = Load(c.Validation);

        var train = Load(c.Train);
        var model = catalog.Trainers.OneDiff(trainerOptions).Fit(train);
        string output = Abs(c.Output);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        ml.Model.Save(model, train.Schema, output);
        Console.WriteLine($"saved {output}");
        return 0;
    }
}
