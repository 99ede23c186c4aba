using Microsoft.ML;
using Microsoft.ML.Data;
using OneDiff.Data.Formats;
using OneDiff.Data.Synthetic;
using OneDiff.MLNet;
using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Tests.Common;
using TorchSharp;
using Xunit;

namespace OneDiff.MLNet.Tests;

/// <summary><c>ExternalBaseWeights</c>: frozen pretrained weights referenced by folder and SHA-256
/// instead of saved, the vision tower's and, with LoRA, the LLM's.</summary>
public class ExternalBaseWeightsTests
{
    /// <summary>A Hugging Face LLaMA folder with the Tiny preset's shapes, random weights and the
    /// Tiny tokenizer; and a copy of the small CLIP vision fixture.</summary>
    static (string Clip, string Llm) Folders(string dir)
    {
        string llm = Path.Combine(dir, "llm"), clip = Path.Combine(dir, "clip");
        Directory.CreateDirectory(llm);
        var c = OneDiffConfig.Tiny.Llm;
        File.WriteAllText(Path.Combine(llm, "config.json"), c.ToHfJson());
        torch.manual_seed(3);
        using (var model = new LlamaForCausalLM(c))
        {
            OneDiff.Modeling.Modules.Initialization.HuggingFace(model);
            SafetensorsWriter.Save(Path.Combine(llm, "model.safetensors"), model.state_dict());
        }
        File.Copy(Path.Combine(TestPaths.Fixtures, "hf-reference", "sentencepiece", "tokenizer.model"), Path.Combine(llm, "tokenizer.model"));
        Directory.CreateDirectory(clip);
        foreach (var f in new[] { "config.json", "model.safetensors" })
            File.Copy(Path.Combine(TestPaths.HfFixtures, "clip_vision", f), Path.Combine(clip, f));
        return (clip, llm);
    }

    static List<string> Captions(ITransformer model, IDataView data) => model.Transform(data).GetColumn<string>("PredictedCaption").ToList();

    [Fact]
    public void WithLoraTheSavedModelHoldsTheAdaptersNotTheLlmAndLoadsOnTheFoldersItNames()
    {
        var ml = new MLContext(seed: 1);
        string dir = TestPaths.NewTempDir("external");
        var (clip, llm) = Folders(dir);
        ProceduralPairGenerator.Write(Path.Combine(dir, "data"), 6, seed: 2, imageSize: 32, testEvery: 0);
        var data = ml.DiffCaptioning().LoadImagePairs(DiffCapJsonl.Read(Path.Combine(dir, "data", "train.jsonl")));
        var options = new DiffCaptionTrainer.Options
        {
            Preset = "Tiny", ClipFolder = clip, LlmFolder = llm, LoraRank = 4, LoraLearningRate = 1e-2, StageTwoLearningRate = 3e-3,
            StageTwoSteps = 8, BatchSize = 6, MaxNewTokens = 6, Device = "cpu", Seed = 5, ExternalBaseWeights = true,
        };
        using var model = ml.DiffCaptioning().Trainers.OneDiff(options).Fit(data);
        var expected = Captions(model, data);

        string file = Path.Combine(dir, "lora.zip");
        ml.Model.Save(model, data.Schema, file);
        long llmBytes = new FileInfo(Path.Combine(llm, "model.safetensors")).Length;
        Assert.True(new FileInfo(file).Length < llmBytes / 2, $"the zip ({new FileInfo(file).Length} bytes) holds no LLM ({llmBytes} bytes)");
        var loaded = ml.Model.Load(file, out _);
        Assert.Equal(expected, Captions(loaded, data));

        // Saved again from the loaded model: the same reference and adapters, the same captions.
        string again = Path.Combine(dir, "again.zip");
        ml.Model.Save(loaded, data.Schema, again);
        (loaded as IDisposable)?.Dispose();
        var reloaded = ml.Model.Load(again, out _);
        Assert.Equal(expected, Captions(reloaded, data));
        (reloaded as IDisposable)?.Dispose();

        // The header says what the file needs, without loading the weights.
        var info = ml.DiffCaptioning().ReadModelInfo(file);
        Assert.Equal((2, clip, llm, 4), (info.FormatVersion, info.ExternalClipFolder, info.ExternalLlmFolder, info.Lora!.Rank));
        Assert.Equal(["model.safetensors"], info.ExternalLlmFiles);
        Assert.Empty(info.MissingFiles);

        // The folders moved (another machine): the error says how to point at them, and the overrides do.
        string movedClip = Path.Combine(dir, "moved", "clip"), movedLlm = Path.Combine(dir, "moved", "llm");
        Directory.CreateDirectory(Path.Combine(dir, "moved"));
        Directory.Move(clip, movedClip);
        Directory.Move(llm, movedLlm);
        Assert.Equal([Path.Combine(clip, "model.safetensors"), Path.Combine(llm, "model.safetensors")], ml.DiffCaptioning().ReadModelInfo(file).MissingFiles);
        var gone = Assert.Throws<InvalidDataException>(() => ml.DiffCaptioning().LoadTransformer(file));
        Assert.Contains($"{Path.Combine(clip, "model.safetensors")} are missing; if the CLIP folder has moved, give its new place (--clip-folder", gone.Message);
        using (var moved = ml.DiffCaptioning().LoadTransformer(file, new CaptioningOverrides { ClipFolder = movedClip, LlmFolder = movedLlm }))
            Assert.Equal(expected, Captions(moved, data));

        // Other weights in the LLM folder than it was trained on: refused, naming the file.
        using (var stream = File.OpenWrite(Path.Combine(movedLlm, "model.safetensors"))) { stream.Seek(-1, SeekOrigin.End); stream.WriteByte(0x5a); }
        var e = Assert.Throws<InvalidDataException>(() => ml.DiffCaptioning().LoadTransformer(file, new CaptioningOverrides { ClipFolder = movedClip, LlmFolder = movedLlm }));
        Assert.Contains(Path.Combine(movedLlm, "model.safetensors"), e.Message);
        Assert.Contains("SHA-256 mismatch", e.Message);
    }

    [Fact]
    public void WithoutLoraOnlyTheVisionTowerStaysOutAndTheModelLoadsTheSame()
    {
        var ml = new MLContext(seed: 1);
        string dir = TestPaths.NewTempDir("external-clip");
        var (clip, llm) = Folders(dir);
        ProceduralPairGenerator.Write(Path.Combine(dir, "data"), 4, seed: 2, imageSize: 32, testEvery: 0);
        var data = ml.DiffCaptioning().LoadImagePairs(DiffCapJsonl.Read(Path.Combine(dir, "data", "train.jsonl")));
        var options = new DiffCaptionTrainer.Options
        {
            Preset = "Tiny", ClipFolder = clip, LlmFolder = llm, StageTwoSteps = 2, BatchSize = 4, MaxNewTokens = 4, Device = "cpu", ExternalBaseWeights = true,
        };
        using var model = ml.DiffCaptioning().Trainers.OneDiff(options).Fit(data);
        string file = Path.Combine(dir, "model.zip");
        ml.Model.Save(model, data.Schema, file);
        // The trained LLM is in the zip, the CLIP folder's weights are not.
        Assert.True(new FileInfo(file).Length > new FileInfo(Path.Combine(llm, "model.safetensors")).Length / 2);
        var loaded = ml.Model.Load(file, out _);
        Assert.Equal(Captions(model, data), Captions(loaded, data));
        (loaded as IDisposable)?.Dispose();
        // The LLM is inside this zip: an LLM folder given at load is a mistake, not ignored.
        var wrong = Assert.Throws<InvalidDataException>(() => ml.DiffCaptioning().LoadTransformer(file, new CaptioningOverrides { LlmFolder = llm }));
        Assert.Contains("this model holds its own LLM weights", wrong.Message);
        File.Delete(Path.Combine(clip, "model.safetensors"));
        var e = Assert.Throws<InvalidDataException>(() => ml.DiffCaptioning().LoadTransformer(file));
        Assert.Contains($"external base weights {Path.Combine(clip, "model.safetensors")} are missing", e.Message);
    }

    [Fact]
    public void ExternalBaseWeightsNeedAFolderToReference()
    {
        var e = Assert.Throws<ArgumentException>(() => TrainingPlan.Resolve(new DiffCaptionTrainer.Options { Preset = "Tiny", ExternalBaseWeights = true }));
        Assert.Contains("needs ClipFolder, or LlmFolder with LoRA", e.Message);
        // A folder not there yet is no option error: the plan records it, and Fit refuses it.
        var plan = TrainingPlan.Resolve(new DiffCaptionTrainer.Options { Preset = "Tiny", ExternalBaseWeights = true, LlmFolder = "llm", LoraRank = 4 });
        Assert.Equal(["LlmFolder: folder not found: llm"], plan.FolderProblems);
        Assert.Throws<DirectoryNotFoundException>(plan.ThrowIfFoldersUnreadable);
    }
}
