Console.WriteLine("P2PNet QuickStart");
