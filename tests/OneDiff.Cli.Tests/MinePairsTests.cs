using System.Text.Json;
using System.Text.Json.Nodes;
using OneDiff.Cli.Commands;
using OneDiff.Data;
using OneDiff.Data.Formats;
using OneDiff.Data.Images;
using OneDiff.Data.Readers;
using OneDiff.Data.Synthetic;
using OneDiff.Modeling.Models.Clip;
using OneDiff.Tests.Common;
using TorchSharp;
using Xunit;

namespace OneDiff.Cli.Tests;

/// <summary><c>onediff data mine-pairs</c> with the small CLIP of the Hugging Face fixtures (random
/// weights, 32 px) over procedural images.</summary>
public class MinePairsTests
{
    static string Clip => Path.Combine(TestPaths.HfFixtures, "clip_full");

    static (string Dir, string Captions) Images(int pairs)
    {
        string dir = TestPaths.NewTempDir("mine");
        ProceduralPairGenerator.Write(dir, pairs, seed: 5, imageSize: 48, testEvery: 0);
        return (dir, Path.Combine(dir, "captions.json"));
    }

    static List<JsonObject> Lines(string file) =>
        File.ReadAllLines(file).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();

    [Fact]
    public void MinedPairsAreEachImagesNearestOthersOverTheSameClipEmbeddings()
    {
        var (dir, captions) = Images(14);
        string output = Path.Combine(dir, "out", "candidates.jsonl");
        var (code, stdout, err) = CliRunner.Run(DataCommand.Create(), "mine-pairs", "--llava", captions, "--images", dir, "--clip", Clip,
            "--out", output, "--neighbors", "2", "--min-similarity", "-1", "--max-similarity", "1.01", "--max-caption-overlap", "1.01", "--no-clip-score", "--batch-size", "5", "--device", "cpu");
        Assert.True(code == 0, err + stdout);
        var lines = Lines(output);
        Assert.Contains($"wrote {lines.Count} candidate pair(s) from 14 images", stdout);

        // Brute force in double over embeddings computed here, one image at a time.
        var images = new LlavaCaptionReader().Read(captions, dir, new DataReport());
        using var tower = ClipVisionModelWithProjection.FromFolder(Clip, torch.CPU, torch.ScalarType.Float32);
        var processor = new ClipImageProcessor(tower.Config.ImageSize);
        var embeddings = images.Select(i =>
        {
            using var x = torch.tensor(processor.Process(ImageInput.FromPath(i.Image).Decode()), [1, 3, processor.Size, processor.Size]);
            using var e = tower.NormalizedImageEmbeds(x);
            return e.data<float>().Select(v => (double)v).ToArray();
        }).ToList();
        double Cos(int a, int b) => embeddings[a].Zip(embeddings[b], (x, y) => x * y).Sum();
        var expected = new SortedSet<(string, string)>();
        for (int i = 0; i < images.Count; i++)
            foreach (int j in Enumerable.Range(0, images.Count).Where(j => j != i).OrderByDescending(j => Cos(i, j)).Take(2))
                expected.Add(i < j ? (images[i].Id, images[j].Id) : (images[j].Id, images[i].Id));
        var ids = images.Select(i => i.Id).ToList();
        Assert.Equal(expected, lines.Select(l => l["id"]!.GetValue<string>().Split('~')).Select(p => (p[0], p[1])).ToHashSet().Order());

        foreach (var line in lines)
        {
            var p = line["id"]!.GetValue<string>().Split('~');
            int a = ids.IndexOf(p[0]), b = ids.IndexOf(p[1]);
            Assert.Equal(Cos(a, b), line["similarity"]!.GetValue<double>(), 1e-5);
            Assert.Equal(images[a].Caption, line["caption1"]!.GetValue<string>());
            Assert.Equal(images[b].Caption, line["caption2"]!.GetValue<string>());
            Assert.Contains(images[a].Caption, line["request"]!.GetValue<string>());
            Assert.Contains(images[b].Caption, line["request"]!.GetValue<string>());
            Assert.Empty(line["captions"]!.AsArray());
        }
    }

    [Fact]
    public void CandidatesBecomeDiffCapTrainingPairsOnceCaptioned()
    {
        var (dir, captions) = Images(8);
        string output = Path.Combine(dir, "candidates.jsonl");
        var (code, _, err) = CliRunner.Run(DataCommand.Create(), "mine-pairs", "--llava", captions, "--images", dir, "--clip", Clip,
            "--out", output, "--min-similarity", "-1", "--max-similarity", "1.01", "--max-caption-overlap", "1.01", "--no-clip-score", "--device", "cpu");
        Assert.True(code == 0, err);

        // Not captioned yet: the reader names the first line without captions.
        var e = Assert.Throws<DataException>(() => DiffCapJsonl.Read(output));
        Assert.Contains("candidates.jsonl line 1", e.Message);
        Assert.Contains("has no captions", e.Message);

        // A chat model's answers go into "captions"; then it is a training file as it is.
        var lines = Lines(output);
        foreach (var line in lines) line["captions"] = new JsonArray($"answer to {line["id"]}");
        File.WriteAllLines(output, lines.Select(l => l.ToJsonString()));
        var records = DiffCapJsonl.Read(output);
        var images = new LlavaCaptionReader().Read(captions, dir, new DataReport()).ToDictionary(i => i.Id);
        Assert.Equal(lines.Count, records.Count);
        foreach (var r in records)
        {
            var p = r.Id.Split('~');
            Assert.Equal((images[p[0]].Image, images[p[1]].Image), (r.Image1, r.Image2));
            Assert.Equal([$"answer to {r.Id}"], r.Captions);
            Assert.Equal(DiffCapCandidates.Task, r.Task);
            Assert.Equal(DiffCapCandidates.Prompt, r.Prompt);
        }
    }

    [Fact]
    public void ABadImageStopsTheRunNamingItOrIsSkippedAndListed()
    {
        var (dir, captions) = Images(6);
        var images = new LlavaCaptionReader().Read(captions, dir, new DataReport());
        var bad = images[2];
        File.WriteAllBytes(bad.Image, File.ReadAllBytes(bad.Image)[..50]); // the PNG header and no image
        string output = Path.Combine(dir, "candidates.jsonl");
        string[] args = ["mine-pairs", "--llava", captions, "--images", dir, "--clip", Clip, "--out", output, "--min-similarity", "-1", "--max-similarity", "1.01", "--max-caption-overlap", "1.01", "--no-clip-score", "--device", "cpu"];

        var (code, _, err) = CliRunner.Run(DataCommand.Create(), args);
        Assert.Equal(1, code);
        Assert.Contains($"error: id {bad.Id}: not a decodable image ({bad.Image})", err);
        Assert.False(File.Exists(output));

        var (code2, stdout2, err2) = CliRunner.Run(DataCommand.Create(), [.. args, "--skip-bad"]);
        Assert.True(code2 == 0, err2);
        Assert.Contains($"skipped id {bad.Id}: not a decodable image ({bad.Image})", err2);
        Assert.Contains("from 6 images", stdout2);
        var lines = Lines(output);
        Assert.NotEmpty(lines);
        Assert.DoesNotContain(lines, l => l["id"]!.GetValue<string>().Split('~').Contains(bad.Id));
    }

    [Fact]
    public void KeptEmbeddingsAreReusedForAnotherBandAndRefusedForOtherImages()
    {
        var (dir, captions) = Images(10);
        string embeddings = Path.Combine(dir, "embeddings.safetensors");
        string[] common = ["mine-pairs", "--llava", captions, "--images", dir, "--clip", Clip, "--device", "cpu", "--embeddings", embeddings, "--min-similarity", "-1", "--max-similarity", "1.01", "--max-caption-overlap", "1.01", "--no-clip-score"];
        var (code, _, err) = CliRunner.Run(DataCommand.Create(), [.. common, "--out", Path.Combine(dir, "a.jsonl")]);
        Assert.True(code == 0, err);
        Assert.Contains("kept the embeddings in", err);
        Assert.True(File.Exists(embeddings));

        // The same search again from the file, and another (two neighbours) at the cost of the search alone.
        var (code2, _, err2) = CliRunner.Run(DataCommand.Create(), [.. common, "--out", Path.Combine(dir, "b.jsonl")]);
        Assert.True(code2 == 0, err2);
        Assert.Contains("read the embeddings of 10 of 10 images from", err2);
        Assert.DoesNotContain("embedded", err2);
        Assert.Equal(File.ReadAllLines(Path.Combine(dir, "a.jsonl")).Select(l => JsonNode.Parse(l)!["id"]!.GetValue<string>()),
            File.ReadAllLines(Path.Combine(dir, "b.jsonl")).Select(l => JsonNode.Parse(l)!["id"]!.GetValue<string>()));
        var (code3, _, err3) = CliRunner.Run(DataCommand.Create(), [.. common, "--out", Path.Combine(dir, "c.jsonl"), "--neighbors", "2"]);
        Assert.True(code3 == 0, err3);
        Assert.True(File.ReadAllLines(Path.Combine(dir, "c.jsonl")).Length > File.ReadAllLines(Path.Combine(dir, "a.jsonl")).Length);

        // Other images (one record fewer): refused, naming the file.
        var records = JsonNode.Parse(File.ReadAllText(captions))!.AsArray();
        records.RemoveAt(3);
        string fewer = Path.Combine(dir, "fewer.json");
        File.WriteAllText(fewer, records.ToJsonString());
        var (code4, _, err4) = CliRunner.Run(DataCommand.Create(), ["mine-pairs", "--llava", fewer, .. common[3..], "--out", Path.Combine(dir, "d.jsonl")]);
        Assert.Equal(1, code4);
        Assert.Contains($"{embeddings}: the embeddings were made from other images or another CLIP", err4);
    }

    [Fact]
    public void WrongSettingsAreClearErrors()
    {
        var (dir, captions) = Images(4);
        string[] common = ["mine-pairs", "--llava", captions, "--images", dir, "--out", Path.Combine(dir, "c.jsonl"), "--device", "cpu"];
        var (code, _, err) = CliRunner.Run(DataCommand.Create(), [.. common, "--clip", Clip, "--min-similarity", "0.9", "--max-similarity", "0.8"]);
        Assert.Equal(2, code);
        Assert.Contains("similarity band [0.9, 0.8)", err);
        var (code2, _, err2) = CliRunner.Run(DataCommand.Create(), [.. common, "--clip", Clip, "--neighbors", "0"]);
        Assert.Equal(2, code2);
        Assert.Contains("Neighbors must be 1 or more", err2);
        var (code3, _, err3) = CliRunner.Run(DataCommand.Create(), [.. common, "--clip", Path.Combine(dir, "no-clip")]);
        Assert.Equal(1, code3);
        Assert.Contains("no-clip", err3);
        // A CLIP folder without the image projection (CLIPVisionModel) says what is needed.
        var (code4, _, err4) = CliRunner.Run(DataCommand.Create(), [.. common, "--clip", Path.Combine(TestPaths.HfFixtures, "clip_vision")]);
        Assert.Equal(1, code4);
        Assert.Contains("has no visual_projection.weight; a CLIPModel or CLIPVisionModelWithProjection folder is needed", err4);
    }

    /// <summary>A copy of the fixture CLIP with a tokenizer (vocab.json, merges.txt) fitting its 300-id
    /// vocabulary: characters, each also as a word end, and a few merges.</summary>
    static string ClipWithTokenizer()
    {
        string dir = TestPaths.NewTempDir("clip-tok");
        foreach (var f in Directory.GetFiles(Clip)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        var vocab = new Dictionary<string, int>();
        foreach (var c in "abcdefghijklmnopqrstuvwxyz0123456789,.") { vocab[c.ToString()] = vocab.Count; vocab[c + "</w>"] = vocab.Count; }
        string[] merged = ["th", "the</w>", "an", "and</w>", "ci", "cir", "circle</w>", "le</w>", "cle</w>"];
        foreach (var m in merged) vocab[m] = vocab.Count;
        vocab["<|startoftext|>"] = 298;
        vocab["<|endoftext|>"] = 299;
        File.WriteAllText(Path.Combine(dir, "vocab.json"), System.Text.Json.JsonSerializer.Serialize(vocab));
        File.WriteAllLines(Path.Combine(dir, "merges.txt"), ["#version: 0.2", "t h", "th e</w>", "a n", "an d</w>", "c i", "ci r", "l e</w>", "c le</w>", "cir cle</w>"]);
        return dir;
    }

    [Fact]
    public void TheDefaultFiltersLeaveOutImagesUnlikeTheirCaptionsAndListThemWithScores()
    {
        var (dir, captions) = Images(12);
        string clip = ClipWithTokenizer();
        // The scores, computed here with the whole CLIPModel and the same tokenizer.
        var images = new LlavaCaptionReader().Read(captions, dir, new DataReport());
        using var model = new OneDiff.Modeling.Models.Clip.ClipModel(OneDiff.Modeling.Models.Clip.ClipConfig.FromHf(OneDiff.Modeling.Checkpoints.HfConfig.Load(clip)));
        using (var checkpoint = OneDiff.Modeling.Checkpoints.SafetensorsCheckpoint.Open(clip)) checkpoint.LoadInto(model, strict: true);
        model.eval();
        var tokenizer = OneDiff.Modeling.Tokenization.ClipTokenizer.FromFolder(clip, 16);
        var processor = new ClipImageProcessor(model.Config.Vision.ImageSize);
        var scores = images.ToDictionary(i => i.Id, i =>
        {
            using var noGrad = torch.no_grad();
            using var x = torch.tensor(processor.Process(ImageInput.FromPath(i.Image).Decode()), [1, 3, processor.Size, processor.Size]);
            using var ids = torch.tensor(tokenizer.Encode(i.Caption).Select(t => (long)t).ToArray()).unsqueeze(0);
            using var image = model.ImageEmbeds(x);
            using var text = model.TextEmbeds(ids, null);
            using var cos = image.mul(text).sum();
            return 250 * Math.Max(cos.item<float>(), 0);
        });
        string output = Path.Combine(dir, "candidates.jsonl");
        // The fixture CLIP has random weights: a minimum between its scores splits the images.
        var sorted = scores.Values.Order().ToList();
        double minimum = (sorted[4] + sorted[5]) / 2;
        var (code, stdout, err) = CliRunner.Run(DataCommand.Create(), "mine-pairs", "--llava", captions, "--images", dir, "--clip", clip,
            "--out", output, "--min-similarity", "-1", "--max-similarity", "1.01", "--device", "cpu", "--neighbors", "3",
            "--min-clip-score", minimum.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(code == 0, err + stdout);
        var dropped = Lines(Path.Combine(dir, "candidates.dropped.jsonl"));
        var unlike = dropped.Where(d => d["kind"]!.GetValue<string>() == "image").ToList();
        Assert.Contains($"left out {unlike.Count} image(s) unlike their caption", stdout);
        var expectedUnlike = scores.Where(s => s.Value <= minimum).Select(s => s.Key).Order().ToList();
        Assert.NotEmpty(expectedUnlike);
        Assert.True(expectedUnlike.Count < images.Count, "every image dropped: the test says nothing");
        Assert.Equal(expectedUnlike, unlike.Select(u => u["id"]!.GetValue<string>()).Order());
        foreach (var u in unlike) Assert.Equal(scores[u["id"]!.GetValue<string>()], u["clip_score"]!.GetValue<double>(), 0.02);
        var candidateIds = Lines(output).SelectMany(l => l["id"]!.GetValue<string>().Split('~')).ToHashSet();
        Assert.Empty(candidateIds.Intersect(expectedUnlike));

        // A vision-only folder cannot score captions: the error says what to do.
        var (code2, _, err2) = CliRunner.Run(DataCommand.Create(), "mine-pairs", "--llava", captions, "--images", dir, "--clip", Clip,
            "--out", output, "--device", "cpu");
        Assert.Equal(1, code2);
        Assert.Contains("vocab.json", err2);
    }
}
