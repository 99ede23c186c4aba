using System.Text.Json;
using OneDiff.Cli.Commands;
using OneDiff.Data.Formats;
using OneDiff.Metrics;
using OneDiff.MLNet;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

/// <summary><c>onediff caption</c> over many pairs and <c>onediff evaluate --model</c>, with the
/// overfit Tiny model (which writes each pair's first reference exactly).</summary>
[Collection(OverfitCollection.Name)]
public class ManyPairsTests(OverfitFixture f)
{
    string TrainJsonl => Path.Combine(f.Folder, "train.jsonl");

    [Fact]
    public void EvaluateWithAModelScoresTheSplitPerGroupAndSavesFilesThatRescoreTheSame()
    {
        string save = TestPaths.NewTempDir("evaluate-model");
        var (code, output, err) = CliRunner.Run(EvaluateCommand.Create(), "--model", f.ModelFile, "--format", "diffcap", "--root", f.Folder,
            "--split", "train", "--save", save, "--json");
        Assert.True(code == 0, err);
        Assert.Contains("captioned 8/8 pairs", err);

        // The same numbers as scoring the model's captions (each pair's first reference) directly.
        var records = DiffCapJsonl.Read(TrainJsonl);
        var items = records.Select((r, i) => new CaptionItem(r.Id, f.Pairs[i].Caption, r.Captions, r.Group)).ToList();
        Assert.Equal(CaptionReport.ToJson(new CaptionEvaluator().Evaluate(items)).Trim(), output.Trim());
        using (var doc = JsonDocument.Parse(output))
        {
            var groups = doc.RootElement.GetProperty("per_group").EnumerateObject().Select(p => p.Name).ToList();
            Assert.Equal(records.Select(r => r.Group!).Distinct().Order(StringComparer.Ordinal), groups.Order(StringComparer.Ordinal));
        }

        // The saved COCO files hold the captions under the dataset's ids, and score the same.
        var predictions = JsonDocument.Parse(File.ReadAllText(Path.Combine(save, "predictions.json"))).RootElement.EnumerateArray()
            .Select(e => (e.GetProperty("image_id").GetString()!, e.GetProperty("caption").GetString()!)).ToList();
        Assert.Equal(records.Select((r, i) => (r.Id, f.Pairs[i].Caption)), predictions);
        var (code2, output2, err2) = CliRunner.Run(EvaluateCommand.Create(), "--references", Path.Combine(save, "references.json"),
            "--predictions", Path.Combine(save, "predictions.json"), "--groups", Path.Combine(save, "groups.json"), "--json");
        Assert.True(code2 == 0, err2);
        Assert.Equal(output.Trim(), output2.Trim());
    }

    [Fact]
    public void AMixedDiffCapFileIsScoredPerTaskOnRequest()
    {
        // Two datasets in one file, as a multi-task test set: each scored as its own set.
        string dir = TestPaths.NewTempDir("mixed");
        var records = DiffCapJsonl.Read(TrainJsonl).Select((r, i) => r with { Task = i % 2 == 0 ? "spot-the-diff" : "clevr-change" }).ToList();
        DiffCapJsonl.Write(Path.Combine(dir, "test.jsonl"), records);
        string[] args = ["--model", f.ModelFile, "--format", "diffcap", "--root", dir, "--json"];
        JsonElement PerGroup(params string[] extra)
        {
            var (code, output, err) = CliRunner.Run(EvaluateCommand.Create(), [.. args, .. extra]);
            Assert.True(code == 0, err);
            return JsonDocument.Parse(output).RootElement.Clone();
        }
        var byTask = PerGroup("--group-by", "task");
        Assert.Equal(["clevr-change", "spot-the-diff"], byTask.GetProperty("per_group").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        var items = records.Select((r, i) => new CaptionItem(r.Id, f.Pairs[i].Caption, r.Captions, r.Task)).ToList();
        var expected = new CaptionEvaluator().Evaluate(items);
        Assert.Equal(expected.PerGroup["clevr-change"].Cider, byTask.GetProperty("per_group").GetProperty("clevr-change").GetProperty("CIDEr").GetDouble(), 12);
        Assert.False(PerGroup("--group-by", "none").TryGetProperty("per_group", out _));
        Assert.Equal(records.Select(r => r.Group).Distinct().Count(), PerGroup().GetProperty("per_group").EnumerateObject().Count());

        var (code2, _, err2) = CliRunner.Run(EvaluateCommand.Create(), "--input", "x.json", "--group-by", "task");
        Assert.Equal(2, code2);
        Assert.Contains("--group-by go with --model", err2);
    }

    [Fact]
    public void CaptionsATabSeparatedPairsFileInOrderUnderItsIds()
    {
        string dir = TestPaths.NewTempDir("pairs");
        string file = Path.Combine(dir, "pairs.tsv");
        // Relative to the file's folder, absolute, an id given or not; comments and blank lines skipped.
        string rel(string p) => Path.GetRelativePath(dir, p);
        File.WriteAllLines(file,
        [
            "# before\tafter\tid",
            $"{rel(f.Pairs[0].A)}\t{rel(f.Pairs[0].B)}\tfirst",
            "",
            $"{f.Pairs[1].A}\t{f.Pairs[1].B}",
            $"{rel(f.Pairs[2].A)}\t{rel(f.Pairs[2].B)}\tthird",
        ]);
        var (code, output, err) = CliRunner.Run(CaptionCommand.Create(), "--model", f.ModelFile, "--pairs", file, "--batch-size", "2");
        Assert.True(code == 0, err);
        Assert.Equal([$"first\t{f.Pairs[0].Caption}", $"4\t{f.Pairs[1].Caption}", $"third\t{f.Pairs[2].Caption}"],
            output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

        string results = Path.Combine(dir, "out", "results.json");
        var (code2, output2, err2) = CliRunner.Run(CaptionCommand.Create(), "--model", f.ModelFile, "--pairs", file, "--out", results);
        Assert.True(code2 == 0, err2);
        Assert.Equal("", output2);
        var written = JsonDocument.Parse(File.ReadAllText(results)).RootElement.EnumerateArray()
            .Select(e => (e.GetProperty("image_id").GetString()!, e.GetProperty("caption").GetString()!));
        Assert.Equal([("first", f.Pairs[0].Caption), ("4", f.Pairs[1].Caption), ("third", f.Pairs[2].Caption)], written);
    }

    [Fact]
    public void CaptionsADatasetSplitAndADiffCapFileWithoutReferences()
    {
        var (code, output, err) = CliRunner.Run(CaptionCommand.Create(), "--model", f.ModelFile, "--format", "diffcap", "--root", f.Folder, "--split", "train");
        Assert.True(code == 0, err);
        var records = DiffCapJsonl.Read(TrainJsonl);
        Assert.Equal(records.Select((r, i) => $"{r.Id}\t{f.Pairs[i].Caption}"), output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

        // A .jsonl pairs file needs no captions.
        string dir = TestPaths.NewTempDir("pairs");
        string jsonl = Path.Combine(dir, "mine.jsonl");
        File.WriteAllText(jsonl, JsonSerializer.Serialize(new { id = "x", image1 = f.Pairs[3].A, image2 = f.Pairs[3].B }) + "\n");
        var (code2, output2, err2) = CliRunner.Run(CaptionCommand.Create(), "--model", f.ModelFile, "--pairs", jsonl);
        Assert.True(code2 == 0, err2);
        Assert.Equal($"x\t{f.Pairs[3].Caption}", output2.Trim());
    }

    [Fact]
    public void BadPairsStopBeforeTheModelLoadsOrAreSkippedAndListed()
    {
        string dir = TestPaths.NewTempDir("pairs");
        string truncated = Path.Combine(dir, "truncated.png");
        File.WriteAllBytes(truncated, File.ReadAllBytes(f.Pairs[1].A)[..100]);
        string file = Path.Combine(dir, "pairs.tsv");
        File.WriteAllLines(file,
        [
            $"{f.Pairs[0].A}\t{f.Pairs[0].B}",
            $"{f.Pairs[1].A}\t{Path.Combine(dir, "missing.png")}",
            $"{truncated}\t{f.Pairs[2].B}",
            $"{f.Pairs[3].A}\tonly-two-fields\textra\tfour",
            $"{f.Pairs[4].A}\t{f.Pairs[4].B}\t1",
        ]);
        // A model file that does not exist: the input is checked (and fails) first.
        var (code, output, err) = CliRunner.Run(CaptionCommand.Create(), "--model", Path.Combine(dir, "no-model.zip"), "--pairs", file);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Contains("pairs.tsv line 2 (id 2): image file is missing", err);
        Assert.Contains("missing.png", err);

        var (code2, output2, err2) = CliRunner.Run(CaptionCommand.Create(), "--model", f.ModelFile, "--pairs", file, "--skip-bad");
        Assert.True(code2 == 0, err2);
        Assert.Equal([$"1\t{f.Pairs[0].Caption}"], output2.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Contains("skipped: pairs.tsv line 2 (id 2): image file is missing", err2);
        Assert.Contains("skipped: pairs.tsv line 4: expected 'before<TAB>after'", err2);
        Assert.Contains("skipped: id 1: the id is used by an earlier pair too (pairs.tsv line 5)", err2);
        Assert.Contains("skipped: id 3: the image is truncated (" + truncated + ")", err2);
        Assert.Contains("skipped 4 problem(s); 1 pair(s) left", err2);
    }

    [Fact]
    public void WrongCombinationsAndValuesAreUsageErrors()
    {
        string[][] cases =
        [
            ["--model", f.ModelFile],
            ["--model", f.ModelFile, "--before", f.Pairs[0].A],
            ["--model", f.ModelFile, "--before", f.Pairs[0].A, "--after", f.Pairs[0].B, "--pairs", "p.tsv"],
            ["--model", f.ModelFile, "--before", f.Pairs[0].A, "--after", f.Pairs[0].B, "--out", "r.json"],
            ["--model", f.ModelFile, "--pairs", "p.tsv", "--format", "diffcap", "--root", f.Folder],
            ["--model", f.ModelFile, "--format", "diffcap"],
            ["--model", f.ModelFile, "--before", f.Pairs[0].A, "--after", f.Pairs[0].B, "--beams", "0"],
            ["--model", f.ModelFile, "--before", f.Pairs[0].A, "--after", f.Pairs[0].B, "--device", "tpu"],
            ["--model", f.ModelFile, "--before", f.Pairs[0].A, "--after", f.Pairs[0].B, "--split", "val"],
            ["--model", f.ModelFile, "--before", f.Pairs[0].A, "--after", f.Pairs[0].B, "--precision", "float64"],
            ["--model", f.ModelFile, "--before", f.Pairs[0].A, "--after", f.Pairs[0].B, "--precision", "float16", "--device", "cpu"],
        ];
        foreach (var args in cases)
        {
            var (code, output, err) = CliRunner.Run(CaptionCommand.Create(), args);
            Assert.True(code == 2, $"{string.Join(' ', args)}: exit {code}, {err}");
            Assert.Equal("", output);
            Assert.StartsWith("error: ", err);
        }
        var (code2, _, err2) = CliRunner.Run(EvaluateCommand.Create(), "--model", f.ModelFile, "--input", "x.json");
        Assert.Equal(2, code2);
        Assert.Contains("--model FILE with --format", err2);
        var (code4, _, err4) = CliRunner.Run(EvaluateCommand.Create(), "--input", "x.json", "--split", "val");
        Assert.Equal(2, code4);
        Assert.Contains("--model FILE with --format", err4);
        var (code3, _, err3) = CliRunner.Run(EvaluateCommand.Create(), "--input", "x.json", "--save", "out");
        Assert.Equal(2, code3);
        Assert.Contains("--save, --prompt and --group-by go with --model", err3);
    }

    [Fact]
    public void Bfloat16HalvesTheWeightsOnTheCpuAndTheOverfitModelStillWritesItsReferences()
    {
        using (var half = f.Ml.DiffCaptioning().LoadTransformer(f.ModelFile, new CaptioningOverrides { Precision = "bfloat16", Device = "cpu" }))
        using (var full = f.Ml.DiffCaptioning().LoadTransformer(f.ModelFile, new CaptioningOverrides { Device = "cpu" }))
        {
            Assert.Equal("cpu, bfloat16", half.RunsOn);
            Assert.Equal("cpu, float32", full.RunsOn);
        }
        string dir = TestPaths.NewTempDir("bf16");
        string file = Path.Combine(dir, "pairs.tsv");
        File.WriteAllLines(file, f.Pairs.Select((p, i) => $"{p.A}\t{p.B}\t{i}"));
        var (code, output, err) = CliRunner.Run(CaptionCommand.Create(), "--model", f.ModelFile, "--pairs", file, "--precision", "bf16", "--device", "cpu");
        Assert.True(code == 0, err);
        Assert.Contains("captioning 8 pairs on cpu, bfloat16", err);
        Assert.Equal(f.Pairs.Select((p, i) => $"{i}\t{p.Caption}"), output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    [Fact]
    public void OverridesChangeDecodingOnLoadAndOnlyThere()
    {
        var full = f.Model.Caption(f.Pairs[0].A, f.Pairs[0].B);
        using (var shortModel = f.Ml.DiffCaptioning().LoadTransformer(f.ModelFile, new CaptioningOverrides { MaxNewTokens = 2, BatchSize = 3, Device = "cpu" }))
        {
            Assert.Equal((2, 3, "cpu"), (shortModel.Settings.MaxNewTokens, shortModel.Settings.BatchSize, shortModel.Settings.Device));
            string cut = shortModel.Caption(f.Pairs[0].A, f.Pairs[0].B);
            Assert.True(cut.Length > 0 && cut.Length < full.Length && full.StartsWith(cut, StringComparison.Ordinal), $"'{cut}' vs '{full}'");
        }
        // A plain load afterwards gets the saved settings.
        using var plain = f.Ml.DiffCaptioning().LoadTransformer(f.ModelFile);
        Assert.Equal(f.Model.Settings, plain.Settings);
        Assert.Throws<ArgumentOutOfRangeException>(() => f.Ml.DiffCaptioning().LoadTransformer(f.ModelFile, new CaptioningOverrides { NumBeams = 0 }));
    }
}
