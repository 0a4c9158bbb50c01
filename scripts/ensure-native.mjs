console.log("ensure-native placeholder")
