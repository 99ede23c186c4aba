using OneDiff.Cli.Commands;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Cli.Tests;

public class TrainCommandTests
{
    [Fact]
    public void AYamlConfigTrainsAndSavesAModelThatCaptions()
    {
        string dir = TestPaths.NewTempDir("train-cli");
        CliRunner.Run(SynthCommand.Create(), "--out", Path.Combine(dir, "data"), "--pairs", "12", "--size", "64", "--seed", "2");
        File.WriteAllText(Path.Combine(dir, "config.yaml"), """
            train:
              - format: synthetic
                root: data
            captions:
              llava: data/captions.json
              images: data
            options:
              Preset: Tiny
              StageOneSteps: 2
              StageTwoSteps: 3
              BatchSize: 4
              Device: cpu
              Fusion: Sequence
              PackReferences: true
            output: out/model.zip
            """);
        var (code, output, err) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"));
        Assert.True(code == 0, err + output);
        Assert.True(File.Exists(Path.Combine(dir, "out", "model.zip")));
        Assert.Contains("stage I", output);
        // Enum and boolean options by name: the [A][B] sequence (Tiny's own is channel fusion; the
        // projector is then 64 -> 128 wide, not 128 -> 128), references packed per pair.
        Assert.Contains("904,448 parameters", output);
        Assert.Contains("each pair's captions share one sequence", output);
        Assert.Matches($@"saved {System.Text.RegularExpressions.Regex.Escape(Path.Combine(dir, "out", "model.zip"))} \([0-9.]+ MB in [0-9]+ s\)", output);
        var (code2, caption, err2) = CliRunner.Run(CaptionCommand.Create(), "--model", Path.Combine(dir, "out", "model.zip"),
            "--before", Path.Combine(dir, "data", "images", "000000_a.png"), "--after", Path.Combine(dir, "data", "images", "000000_b.png"));
        Assert.True(code2 == 0, err2);
        Assert.False(string.IsNullOrWhiteSpace(caption));
    }

    [Fact]
    public void ABadConfigNamesTheProblem()
    {
        string dir = TestPaths.NewTempDir("train-bad");
        File.WriteAllText(Path.Combine(dir, "config.json"), """{"train": [], "options": {"Preset": "Tiny"}}""");
        var (code, _, err) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.json"));
        Assert.Equal(1, code);
        Assert.Contains("\"train\"", err);
    }
}

public class TrainCheckTests
{
    const string Config = """
        train:
          - format: synthetic
            root: data
        validation:
          - format: synthetic
            root: data
            split: test
        captions:
          llava: data/captions.json
          images: data
        options:
          Preset: Tiny
          StageOneBatchSize: 2
          StageTwoEpochs: 3
          BatchSize: 4
          GradientAccumulation: 2
          Device: cpu
        output: out/model.zip
        """;

    static string Tree(int pairs)
    {
        string dir = TestPaths.NewTempDir("train-check");
        CliRunner.Run(SynthCommand.Create(), "--out", Path.Combine(dir, "data"), "--pairs", $"{pairs}", "--size", "32", "--seed", "5");
        return dir;
    }

    [Fact]
    public void CheckReadsEverythingPrintsThePlanAndTrainsNothing()
    {
        string dir = Tree(20);
        File.WriteAllText(Path.Combine(dir, "config.yaml"), Config);
        var (code, output, err) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"), "--check");
        Assert.True(code == 0, err + output);
        Assert.Contains("no problems found", output);
        // 20 pairs, every fifth held out: 16 train pairs (16 captioned images -> 8 coupled samples).
        Assert.Contains("train[0] synthetic train: 16 records, 16 pairs, 48 references", output);
        Assert.Contains("validation[0] synthetic test: 4 records, 4 pairs, 12 references", output);
        // Stage I takes the Tiny preset's own 20 steps (an epoch is 2).
        Assert.Contains("16 captioned images -> 8 coupled samples; batch 2 x 2 accumulated = 4; 20 optimizer steps (MaxSteps; an epoch is 2)", output);
        // 48 examples in batches of 4: 12 batches, 6 steps an epoch, 3 epochs.
        Assert.Contains("stage II (instruction tuning): 48 examples (one per reference caption); batch 4 x 2 accumulated = 8; 18 optimizer steps (3 epoch(s) of 6)", output);
        // The Tiny model's weights and training state in bf16, with fp32 copies of the trained ones
        // (stage II: 12 bytes of optimizer state per trained parameter).
        Assert.Contains("GPU memory in bf16 before activations: stage I 3.6 MiB (weights 1.7 MiB, gradients 0.3 MiB, optimizer 1.6 MiB); " +
            "stage II 11.9 MiB (weights 1.7 MiB, gradients 1.5 MiB, optimizer 8.7 MiB)", output);
        Assert.False(File.Exists(Path.Combine(dir, "out", "model.zip")));

        var (code2, _, err2) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"), "--no-decode");
        Assert.Equal(ExitCodes.Usage, code2);
        Assert.Contains("--no-decode, --all and --gpus apply to --check only", err2);
        Assert.False(File.Exists(Path.Combine(dir, "out", "model.zip")));
    }

    [Fact]
    public void CheckPlansLoraWithItsAdapterSizeAndLearningRate()
    {
        string dir = Tree(20);
        File.WriteAllText(Path.Combine(dir, "config.yaml"), Config.Replace("  Device: cpu\n", "  Device: cpu\n  LoraRank: 8\n"));
        var (code, output, err) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"), "--check");
        Assert.True(code == 0, err + output);
        Assert.Contains("learning rates projectors 3E-3, delta_module 3E-3, lora 2E-4", output); // Tiny's own stage II rate
        // Tiny: hidden 128, 4 query and 2 key/value heads of 32, feed-forward 344, 2 layers:
        // (256 + 192 + 192 + 256 + 3 x 472) x rank 8 x 2 layers.
        Assert.Contains("stage II LoRA: rank 8, alpha 16, dropout 0.05 on q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj: 36,992 adapter parameters train", output);
    }

    [Fact]
    public void ConversationsAreCheckedPlannedAndTrainedInStageTwo()
    {
        string dir = Tree(20);
        File.WriteAllText(Path.Combine(dir, "data", "mix.json"), """
            [{"id": "c1", "image": "images/000000_a.png", "conversations": [{"from": "human", "value": "<image>\nWhat is there?"}, {"from": "gpt", "value": "shapes"}, {"from": "human", "value": "How many?"}, {"from": "gpt", "value": "two"}]},
             {"id": "c2", "image": "images/000001_a.png", "conversations": [{"from": "human", "value": "<image>\nDescribe it."}, {"from": "gpt", "value": "a circle"}]},
             {"id": "t", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}]
            """);
        string withConversations = Config.Replace("captions:", "conversations:\n  llava: data/mix.json\n  images: data\ncaptions:")
            .Replace("  Device: cpu", "  Device: cpu\n  StageTwoTemplate: vicuna_v1");
        File.WriteAllText(Path.Combine(dir, "config.yaml"), withConversations);
        var (code, output, err) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"), "--check");
        Assert.True(code == 0, err + output);
        Assert.Contains("conversations: 2 about single images, 3 turns; 1 text-only record(s) left out", output);
        // 48 caption examples and 2 conversations in full batches of 4: 12 batches, 6 steps an epoch.
        Assert.Contains("stage II (instruction tuning): 48 examples (one per reference caption) and 2 conversations; batch 4 x 2 accumulated = 8; 18 optimizer steps (3 epoch(s) of 6)", output);

        // Training runs with them (a few steps).
        File.WriteAllText(Path.Combine(dir, "config.yaml"), withConversations.Replace("StageTwoEpochs: 3", "StageTwoSteps: 2").Replace("StageOneBatchSize: 2", "StageOneBatchSize: 2\n  StageOneSteps: 1"));
        var (code2, output2, err2) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"));
        Assert.True(code2 == 0, err2 + output2);
        Assert.Contains("and 2 conversations about single images", output2);
        Assert.Contains("left out 1 text-only record(s)", output2);
        Assert.True(File.Exists(Path.Combine(dir, "out", "model.zip")));

        // The Tiny preset's own template reads no question: a config error, listed by --check and
        // stopping train before anything runs.
        File.WriteAllText(Path.Combine(dir, "config.yaml"), withConversations.Replace("  StageTwoTemplate: vicuna_v1\n", ""));
        var (code3, output3, _) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"), "--check");
        Assert.Equal(ExitCodes.Failed, code3);
        Assert.Contains("ConversationData needs a stage II template that reads questions", output3);
        var (code4, output4, err4) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"));
        Assert.Equal(ExitCodes.Failed, code4);
        Assert.StartsWith($"error: {Path.Combine(dir, "config.yaml")}: options: ConversationData needs a stage II template", err4);
        Assert.DoesNotContain("OneDiff Tiny", output4);
    }

    [Fact]
    public void CheckTakesADiffCapFileAsItsRoot()
    {
        // Such as mined pairs once captioned: the .jsonl itself is the dataset.
        string dir = Tree(10);
        File.WriteAllText(Path.Combine(dir, "config.yaml"), "train:\n  - { format: diffcap, root: data/train.jsonl }\noptions:\n  Preset: Tiny\n  BatchSize: 4\n  Device: cpu\n");
        var (code, output, err) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"), "--check");
        Assert.True(code == 0, err + output);
        Assert.Contains("train[0] diffcap train: 8 records, 8 pairs, 24 references", output);
    }

    [Fact]
    public void CheckListsEveryProblemWithItsRecordAndFileAndExits1()
    {
        string dir = Tree(20);
        string image = Path.Combine(dir, "data", "images", "000001_b.png");
        var bytes = File.ReadAllBytes(image);
        File.WriteAllBytes(image, bytes[..(bytes.Length / 2)]);
        File.WriteAllText(Path.Combine(dir, "config.yaml"), Config.Replace("Device: cpu", "Device: cpu\n  LlmFolder: models/none")
            .Replace("    root: data\n    split: test", "    root: nowhere\n    split: test"));
        var (code, output, err) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"), "--check");
        Assert.True(code == 1, err + output);
        Assert.Contains("3 problem(s):", output);
        Assert.Contains($"options.LlmFolder: folder not found: {Path.Combine(dir, "models", "none")}", output);
        Assert.Contains($"train[0] synthetic: id 000001: the image is truncated ({image})", output);
        Assert.Contains($"validation[0] synthetic: dataset folder not found: {Path.Combine(dir, "nowhere")}", output);
    }

    [Fact]
    public void CheckOnTheRealAnnotationFilesNamesEveryMissingImage()
    {
        string root = TestPaths.RequireShared("data", "spot-the-diff");
        string dir = TestPaths.NewTempDir("train-check-real");
        File.WriteAllText(Path.Combine(dir, "config.yaml"), $"train:\n  - {{ format: spot-the-diff, root: '{root}' }}\noptions:\n  Preset: Tiny\n");
        var (code, output, err) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"), "--check", "--no-decode");
        Assert.True(code == 1, err + output);
        // The annotations only: 8,566 training pairs (9,524 entries), none with its images here.
        Assert.Contains("train[0] spot-the-diff train: 0 records, 0 pairs, 0 references;", output);
        Assert.Contains($"train[0] spot-the-diff: img_id 76: image file is missing ({Path.Combine(root, "resized_images", "76.png")})", output);
        Assert.Contains("stage II has no training examples", output);
        // Twenty of them, then the count; --all lists every one.
        var listed = output.Split('\n').Where(l => l.StartsWith("  train[0] spot-the-diff: ", StringComparison.Ordinal)).ToList();
        Assert.Equal(20, listed.Count);
        var total = int.Parse(output.Split('\n').Single(l => l.EndsWith(" problem(s):", StringComparison.Ordinal)).Split(' ')[0].Replace(",", ""), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains($"  ... and {total - 21:N0} more from train[0] spot-the-diff (--all lists every one)", output);
        var (code2, output2, _) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"), "--check", "--no-decode", "--all");
        Assert.Equal(1, code2);
        Assert.Equal(total - 1, output2.Split('\n').Count(l => l.StartsWith("  train[0] spot-the-diff: ", StringComparison.Ordinal)));
        Assert.DoesNotContain("more from", output2);
    }
}
