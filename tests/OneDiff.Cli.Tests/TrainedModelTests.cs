using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using OneDiff.Cli.Commands;
using OneDiff.Data.Formats;
using OneDiff.Data.Synthetic;
using OneDiff.MLNet;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

[Collection(OverfitCollection.Name)]
public class TrainedModelTests(OverfitFixture f)
{
    sealed class Row
    {
        public string Image1 { get; set; } = "";
        public string Image2 { get; set; } = "";
        public string PredictedCaption { get; set; } = "";
    }

    [Fact]
    public void ATinyModelOverfitsEightPairs()
    {
        Assert.True(f.Trainer.LossHistory[^1] < 0.05, $"final training loss {f.Trainer.LossHistory[^1]}");
        var captions = f.Ml.Data.CreateEnumerable<Row>(f.Model.Transform(f.Data), reuseRowObject: false).Select(r => r.PredictedCaption).ToList();
        Assert.Equal(f.Pairs.Select(p => p.Caption), captions);
    }

    [Fact]
    public void PredictionEngineAgreesWithTransform()
    {
        var engine = f.Ml.Model.CreatePredictionEngine<Row, Row>(f.Model);
        var viaTransform = f.Ml.Data.CreateEnumerable<Row>(f.Model.Transform(f.Data), reuseRowObject: false).ToList();
        for (int i = 0; i < 3; i++)
        {
            var p = engine.Predict(new Row { Image1 = f.Pairs[i].A, Image2 = f.Pairs[i].B });
            Assert.Equal(viaTransform[i].PredictedCaption, p.PredictedCaption);
        }
    }

    [Fact]
    public void SaveThenLoadInAFreshProcessGivesIdenticalCaptions()
    {
        string zip = Path.Combine(f.Folder, "model.zip");
        f.Ml.Model.Save(f.Model, f.Data.Schema, zip);
        string cli = typeof(CaptionCommand).Assembly.Location;
        for (int i = 0; i < 2; i++)
        {
            var psi = new ProcessStartInfo("dotnet", ["exec", cli, "caption", "--model", zip, "--before", f.Pairs[i].A, "--after", f.Pairs[i].B])
            {
                RedirectStandardOutput = true, RedirectStandardError = true,
            };
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd().Trim();
            string err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, err);
            Assert.Equal(f.Model.Caption(f.Pairs[i].A, f.Pairs[i].B), output);
        }
        // And plain ML.NET loading in this process.
        var loaded = f.Ml.Model.Load(zip, out var schema);
        var reloaded = f.Ml.Data.CreateEnumerable<Row>(loaded.Transform(f.Data), reuseRowObject: false).Select(r => r.PredictedCaption);
        Assert.Equal(f.Pairs.Select(p => p.Caption), reloaded);
        Assert.NotNull(schema.GetColumnOrNull("Image1"));
    }

    [Fact]
    public void CheckpointInspectSaysWhatASavedModelIsWithoutLoadingIt()
    {
        var (code, output, err) = CliRunner.Run(CheckpointCommand.Create(), "inspect", f.ModelFile);
        Assert.True(code == 0, err);
        Assert.Contains("OneDiff model (format 1): Tiny; CLIP 3 layers at 64 px, LLM llama 2 layers of 128, 8 delta tokens; tokenizer tiny", output);
        Assert.Contains("up to 40 new tokens", output);
        Assert.Contains("LLM weights: in the file", output);
        string foreign = Path.Combine(TestPaths.NewTempDir("inspect"), "foreign.zip");
        using (var z = System.IO.Compression.ZipFile.Open(foreign, System.IO.Compression.ZipArchiveMode.Create)) z.CreateEntry("hello.txt");
        var (code2, _, err2) = CliRunner.Run(CheckpointCommand.Create(), "inspect", foreign);
        Assert.Equal(1, code2);
        Assert.Contains("foreign.zip", err2);
    }

    [Fact]
    public void ACorruptOrForeignModelFileIsAClearError()
    {
        string zip = Path.Combine(f.Folder, "for-corruption.zip");
        f.Ml.Model.Save(f.Model, f.Data.Schema, zip);
        var bytes = File.ReadAllBytes(zip);
        string truncated = Path.Combine(f.Folder, "truncated.zip");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => f.Ml.DiffCaptioning().LoadTransformer(truncated));
        Assert.Contains("truncated.zip", e.Message);
        string foreign = Path.Combine(f.Folder, "foreign.zip");
        using (var z = System.IO.Compression.ZipFile.Open(foreign, System.IO.Compression.ZipArchiveMode.Create)) z.CreateEntry("hello.txt");
        var e2 = Assert.Throws<InvalidDataException>(() => f.Ml.DiffCaptioning().LoadTransformer(foreign));
        Assert.Contains("foreign.zip", e2.Message);
        var (code, _, err) = CliRunner.Run(CaptionCommand.Create(), "--model", truncated, "--before", f.Pairs[0].A, "--after", f.Pairs[0].B);
        Assert.Equal(1, code);
        Assert.Contains("truncated.zip", err);

        // A weight altered inside a well-formed zip: the stored SHA-256 catches it.
        string altered = Path.Combine(f.Folder, "altered.zip");
        File.Copy(zip, altered, overwrite: true);
        using (var z = System.IO.Compression.ZipFile.Open(altered, System.IO.Compression.ZipArchiveMode.Update))
        {
            var entry = z.Entries.Single(x => x.FullName.EndsWith("OneDiffWeights.safetensors", StringComparison.Ordinal));
            byte[] weights;
            using (var s = entry.Open()) { using var ms = new MemoryStream(); s.CopyTo(ms); weights = ms.ToArray(); }
            weights[^1] ^= 0x40;
            string name = entry.FullName;
            entry.Delete();
            using var w = z.CreateEntry(name).Open();
            w.Write(weights);
        }
        var e3 = Assert.Throws<InvalidDataException>(() => f.Ml.DiffCaptioning().LoadTransformer(altered));
        Assert.Contains("SHA-256 mismatch", e3.Message);
    }

    [Fact]
    public void PackedReferencesMakeOneExamplePerPair()
    {
        // All three references of each of the 8 pairs: 24 examples one by one, 8 packed.
        var records = DiffCapJsonl.Read(Path.Combine(f.Folder, "train.jsonl"));
        Assert.All(records, r => Assert.Equal(3, r.Captions.Count));
        var data = f.Ml.DiffCaptioning().LoadImagePairs(records);
        int Steps(bool pack)
        {
            var trainer = f.Ml.DiffCaptioning().Trainers.OneDiff(new DiffCaptionTrainer.Options
            {
                Preset = "Tiny", StageTwoEpochs = 2, BatchSize = 4, CacheVisionFeatures = true, Device = "cpu", PackReferences = pack,
            });
            using var model = trainer.Fit(data);
            Assert.All(trainer.LossHistory, l => Assert.True(double.IsFinite(l) && l > 0));
            return trainer.LossHistory.Count;
        }
        Assert.Equal(2 * 24 / 4, Steps(pack: false));
        Assert.Equal(2 * 8 / 4, Steps(pack: true));
    }

    [Fact]
    public void WrongColumnsAndEmptyDataAreClearErrors()
    {
        var trainer = f.Ml.DiffCaptioning().Trainers.OneDiff(new DiffCaptionTrainer.Options { Preset = "Tiny", Device = "cpu" });
        var numbers = f.Ml.Data.LoadFromEnumerable(new[] { new { Image1 = 1f, Image2 = "b", References = "x" } });
        Assert.Contains("'Image1'", Assert.Throws<ArgumentException>(() => trainer.Fit(numbers)).Message);
        var noRefs = f.Ml.Data.LoadFromEnumerable(new[] { new { Image1 = "a", Image2 = "b" } });
        Assert.Contains("'References'", Assert.Throws<ArgumentException>(() => trainer.Fit(noRefs)).Message);
        var empty = f.Ml.DiffCaptioning().LoadImagePairs([]);
        Assert.Contains("no rows", Assert.Throws<InvalidOperationException>(() => trainer.Fit(empty)).Message);
        var wrong = f.Ml.Data.LoadFromEnumerable(new[] { new { Before = "a.png", After = "b.png" } });
        Assert.Contains("'Image1'", Assert.Throws<ArgumentException>(() => f.Model.GetOutputSchema(wrong.Schema)).Message);
    }
}
